"""The whole pipeline from `synth` at a tiny scale: outputs, conservation with injected faults,
determinism, atomic stages under SIGKILL, the disclosure check and the manifest."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from data_synthetic.generate import run as generate
from pipeline.config import PROJECT_ROOT, load_settings
from pipeline.disclosure_check import run as disclosure_check
from pipeline.schema import MUNICIPALITY_YEAR, PERSON_YEAR

runner = CliRunner()
SCALE = 0.01
REPORT_TABLES = [f"fig3_{n:02d}.csv" for n in (*range(1, 15), 17, 18, 19, 20)] + [
    "table3_1.csv", "table3_2.csv", "table3_3.csv", "fig3_15_coefficients.csv",
    "fig3_16_r2_decomposition.csv", "kommunebidrag.csv", "report_comparison.csv", "report_comparison.md"]


def digest_tree(directory: Path, suffixes=(".csv", ".md", ".tex", ".png", ".pdf", ".parquet", ".html")) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.suffix in suffixes}


def run_all(data: Path, root: Path):
    result = runner.invoke(app, ["all", "--input", str(data), "--work", str(root / "work"), "--out", str(root / "out")])
    assert result.exit_code == 0, result.stderr + result.stdout
    return load_settings(input=data, work=root / "work", out=root / "out")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    data = tmp_path_factory.mktemp("synthetic") / "data"
    generate(data, scale=SCALE, seed=7)
    return data


@pytest.fixture(scope="module")
def first_run(synthetic, tmp_path_factory):
    return run_all(synthetic, tmp_path_factory.mktemp("run1"))


def test_all_writes_every_table_figure_and_the_manifest(first_run):
    paths = first_run.paths
    for name in REPORT_TABLES:
        assert (paths.tables / name).exists(), name
    for number in (*range(1, 18), 18, 19, 20):
        for suffix in (".png", ".pdf"):
            assert (paths.figures / f"fig3_{number:02d}{suffix}").exists(), (number, suffix)
    panel = pd.read_parquet(paths.person_year)
    assert list(panel.columns) == list(PERSON_YEAR)
    assert list(pd.read_parquet(paths.municipality_year).columns) == list(MUNICIPALITY_YEAR)
    manifest = json.loads(paths.manifest.read_text())
    assert manifest["seed"] == 7
    assert manifest["inputs"]["bosted"]["rows"] == json.loads((paths.input / "truth.json").read_text())[
        "row_counts"]["bosted"]
    assert set(manifest["suppressed_cells"]) >= {"fig3_08.csv", "fig3_17.csv"}
    assert manifest["versions"]["duckdb"] and manifest["configuration"]["study"]["first_year"] == 2010


def test_all_runs_and_times_every_step_of_the_stage_list(first_run):
    from pipeline import runlog
    from pipeline.run_all import STEPS

    from pipeline.run_all import waves

    timed = [e["stage"] for e in runlog.read(first_run.paths.run_log) if e["event"] == "timing"]
    top = [stage for stage in timed if "/" not in stage]
    # a wave's steps are logged as they end (in either order), then the wave
    assert [stage for stage in top if "+" in stage or len(stage_wave(stage)) == 1] == \
        ["+".join(step.name for step in wave) for wave in waves()]
    assert sorted(stage for stage in top if "+" not in stage) == sorted(step.name for step in STEPS)
    assert {"panel/load_validate", "panel/municipalities", "estimate/fig3_16_decomposition"} <= set(timed)


def stage_wave(name: str) -> tuple:
    from pipeline.run_all import waves

    return next(wave for wave in waves() if name in [step.name for step in wave])


def test_bench_times_every_step_that_all_runs(synthetic, tmp_path):
    from pipeline import bench

    data = tmp_path / f"data_scale{SCALE}_seed7"  # bench's cache of generated data: no generation here
    data.mkdir()
    for path in synthetic.glob("*"):
        (data / path.name).write_bytes(path.read_bytes())
    result = bench.run(scale=SCALE, seed=7, root=tmp_path, compare=False)
    from pipeline.run_all import waves

    steps = [row for row in result["stages"] if row["depth"] == 0]
    assert [row["stage"] for row in steps] == ["+".join(step.name for step in wave) for wave in waves()]
    beside = [row["stage"] for row in result["stages"] if row["depth"] == 1 and "+" in row["stage"]]
    assert sorted(beside) == sorted(f"describe+estimate+robustness/{name}" for name in ("describe", "estimate",
                                                                                            "robustness"))
    assert result["generation"] == [] and result["disclosure_problems"] == []
    assert result["all_seconds"] >= sum(row["seconds"] for row in steps) > 0
    assert result["all_peak_mib"] == max(row["peak_mib"] for row in steps) > 0


def test_work_files_are_owner_only_and_outside_the_output(first_run):
    paths = first_run.paths
    for path in (paths.work, paths.panel_dir):
        assert path.stat().st_mode & 0o077 == 0, path
    for path in (paths.database, paths.person_year, paths.municipality_year):
        assert path.stat().st_mode & 0o077 == 0, path
    assert not any(p.suffix in (".parquet", ".duckdb") for p in paths.out.rglob("*"))


def test_outputs_pass_the_disclosure_check_and_a_leak_is_caught(first_run, tmp_path):
    assert disclosure_check(first_run) == []
    leaky_settings = load_settings(input=first_run.paths.input, work=first_run.paths.work, out=tmp_path / "out")
    leaky_settings.paths.tables.mkdir(parents=True)
    panel = pd.read_parquet(first_run.paths.person_year)
    panel[["aar", "kategori"]].assign(person=panel.lopenr).head(40).to_csv(
        leaky_settings.paths.tables / "oops.csv", index=False)
    pd.DataFrame({"kommune": ["0301"], "share": [0.5], "n_persons": [12]}).to_csv(
        leaky_settings.paths.tables / "small.csv", index=False)
    problems = disclosure_check(leaky_settings)
    assert any("oops.csv" in p and "person id" in p for p in problems)
    assert any("small.csv" in p and "below 30" in p for p in problems)
    result = runner.invoke(app, ["disclosure-check", "--input", str(first_run.paths.input),
                                 "--work", str(first_run.paths.work), "--out", str(tmp_path / "out")])
    assert result.exit_code == 30


def test_sample_flow_balances_with_injected_faults(synthetic, tmp_path):
    """Inject an unknown reason, a missing income year and a refugee without residence after arrival."""
    data = tmp_path / "data"
    data.mkdir()
    for path in synthetic.glob("*"):
        (data / path.name).write_bytes(path.read_bytes())
    personer = pd.read_parquet(data / "personer.parquet")
    panel_like = personer[personer.innvandringsgrunn.isin(["711", "712", "741"])
                          & (pd.to_datetime(personer.innvandringsdato).dt.year.between(2011, 2015))
                          & (personer.foedselsaar <= 1985)]
    victims = panel_like.lopenr.head(3).tolist()
    personer.loc[personer.lopenr == victims[0], "innvandringsgrunn"] = "999"
    personer.to_parquet(data / "personer.parquet", index=False)
    inntekt = pd.read_parquet(data / "inntekt.parquet")
    inntekt = inntekt[~((inntekt.lopenr == victims[1]) & (inntekt.aar == 2018))]
    inntekt.to_parquet(data / "inntekt.parquet", index=False)
    bosted = pd.read_parquet(data / "bosted.parquet")
    arrival = pd.to_datetime(personer.set_index("lopenr").loc[victims[2], "innvandringsdato"]).year
    bosted = bosted[~((bosted.lopenr == victims[2]) & (bosted.aar == arrival + 1))]
    bosted.to_parquet(data / "bosted.parquet", index=False)

    result = runner.invoke(app, ["panel", "--input", str(data), "--work", str(tmp_path / "work"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    flow = pd.read_csv(tmp_path / "work" / "sample_flow_full.csv")
    for unit in ("persons", "person_years"):
        assert (flow[f"{unit}_in"] - flow[f"{unit}_excluded"] == flow[f"{unit}_out"]).all()
        assert (flow[f"{unit}_in"].iloc[1:].to_numpy() == flow[f"{unit}_out"].iloc[:-1].to_numpy()).all()
    assert flow.persons_in.iloc[0] == len(personer)
    assert flow.person_years_in.iloc[0] == len(bosted[bosted.aar.between(2010, 2020)])
    panel = pd.read_parquet(tmp_path / "work" / "panel" / "person_year.parquet")
    assert victims[0] not in set(panel.lopenr)
    assert not ((panel.lopenr == victims[1]) & (panel.aar == 2018)).any()
    # not resident on 1 January after arrival: kept, without a settlement municipality
    refugees = pd.read_parquet(tmp_path / "work" / "panel" / "refugees.parquet").set_index("lopenr")
    assert pd.isna(refugees.loc[victims[2], "bosettingskommune"])
    assert panel.loc[panel.lopenr == victims[2], "bosettingskommune"].isna().all()
    by_rule = flow.set_index("rule")
    assert by_rule.loc["no_settlement_municipality", "persons_excluded"] >= 1
    assert by_rule.loc["no_income_record", "person_years_excluded"] >= 1
    last_before_age = by_rule.loc["no_income_record"]
    assert (last_before_age.persons_out, last_before_age.person_years_out) == (panel.lopenr.nunique(), len(panel))


def test_two_runs_give_byte_identical_tables_and_figures(synthetic, first_run, tmp_path):
    second = run_all(synthetic, tmp_path)
    first_tree = digest_tree(first_run.paths.out)
    assert first_tree == digest_tree(second.paths.out)
    assert len(first_tree) > 60
    assert digest_tree(first_run.paths.panel_dir) == digest_tree(second.paths.panel_dir)


def panel_command(data: Path, work: Path, out: Path) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "cli.py"), "panel", "--input", str(data),
            "--work", str(work), "--out", str(out)]


def wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    assert condition(), what


def test_sigkill_during_the_panel_build_leaves_previous_outputs_and_the_next_run_completes(synthetic, first_run,
                                                                                           tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    command = panel_command(synthetic, work, out)
    subprocess.run(command, check=True, capture_output=True, cwd=PROJECT_ROOT)
    before = {**digest_tree(work), **digest_tree(out)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    building = work / ".register.duckdb.building"
    wait_for(building.exists, process, "the panel build never started")
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert {**digest_tree(work), **digest_tree(out)} == before
    rerun = subprocess.run(command, check=True, capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert {**digest_tree(work), **digest_tree(out)} == before  # same inputs: the same bytes again
    assert not building.exists()
    # the killed run's lock records are detected and taken over, with a message naming it
    for label, directory in (("WORK", work), ("OUT", out)):
        assert f"Taking over the lock on {label} {directory}" in rerun.stderr
        assert not os.path.lexists(directory / ".lock")
    assert f"pid {process.pid}" in rerun.stderr and "is no longer running" in rerun.stderr


def test_a_second_run_on_the_same_directories_stops_at_once_and_the_first_finishes(synthetic, first_run,
                                                                                     tmp_path):
    from pipeline.errors import EXIT_CODES

    work, out = tmp_path / "work", tmp_path / "out"
    first = subprocess.Popen(panel_command(synthetic, work, out), cwd=PROJECT_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: os.path.lexists(out / ".lock"), first, "the first run never took its locks")
    os.kill(first.pid, signal.SIGSTOP)  # hold it inside its run while the others try
    try:
        same_work = subprocess.run(panel_command(synthetic, work, out), capture_output=True, text=True,
                                   cwd=PROJECT_ROOT, timeout=60)
        same_out = subprocess.run(panel_command(synthetic, tmp_path / "work2", out), capture_output=True,
                                  text=True, cwd=PROJECT_ROOT, timeout=60)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    for second, label, directory in ((same_work, "WORK", work), (same_out, "OUT", out)):
        assert second.returncode == EXIT_CODES["locked"], second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"{label} {directory} is in use by another run (pid {first.pid}" in lines[0]
        assert "cli.py panel" in lines[0] and "started" in lines[0]
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "Taking over" not in stderr
    assert digest_tree(work / "panel") == digest_tree(first_run.paths.panel_dir)  # as a lone run's panel
    assert not os.path.lexists(work / ".lock") and not os.path.lexists(out / ".lock")


def test_panel_runs_out_of_core_with_a_memory_limit_below_the_data(synthetic, first_run, tmp_path):
    import duckdb

    with duckdb.connect() as con:
        for table in ("personer", "bosted", "inntekt", "utdanning", "familie"):
            con.execute(f"create table {table} as select * from read_parquet('{synthetic / (table + '.parquet')}')")
        data_mib = con.execute("select sum(memory_usage_bytes) / 2^20 from duckdb_memory()").fetchall()[0][0]
    limit_mib = 56
    assert limit_mib < 0.8 * data_mib, data_mib  # the extracts do not fit in DuckDB's memory
    config = tmp_path / "low_memory.toml"
    config.write_text(f'[duckdb]\nmemory_limit = "{limit_mib}MB"\nthreads = 1\n', encoding="utf-8")
    result = runner.invoke(app, ["panel", "--input", str(synthetic), "--work", str(tmp_path / "work"),
                                 "--out", str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    for name in ("person_year.parquet", "municipality_year.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "work" / "panel" / name),
                                      pd.read_parquet(first_run.paths.panel_dir / name))


def test_all_on_a_tiny_extract_suppresses_everything_small_and_says_how_it_normalised(tmp_path):
    """A directory that follows the contract but holds a handful of refugees: `all` must not crash,
    must not release small cells, and must say that a small reference municipality was not used."""
    from tests.extracts import tiny_extract, write_extract

    data = write_extract(tmp_path / "in", tiny_extract())
    dirs = ["--input", str(data), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["all", *dirs])
    assert result.exit_code == 0, result.stderr
    contributions = pd.read_csv(tmp_path / "out" / "tables" / "kommunebidrag.csv", dtype=str)
    assert len(contributions) == 4 * 4   # every municipality x group, none and few alike
    assert (contributions[["estimate", "std_error", "n_persons", "n_person_years"]] == "prikket").all().all()
    assert set(contributions["normalisation"]) == {"mean (reference 0301 under 30 persons)"}
    coefficients = pd.read_csv(tmp_path / "out" / "tables" / "fig3_15_coefficients.csv", dtype=str)
    assert (coefficients[["estimate", "n_persons", "r2"]] == "prikket").all().all()
    comparison = pd.read_csv(tmp_path / "out" / "tables" / "report_comparison.csv", dtype=str, keep_default_na=False)
    fig3_15 = comparison[comparison["id"].str.startswith(("sample.", "fig3_15."))]
    assert len(fig3_15) == 6 and (fig3_15["status"] == "missing").all()
    assert fig3_15["note"].str.contains("suppressed").all()



def test_all_writes_the_report_and_a_card_per_municipality_and_the_manifest_hashes_them(first_run):
    paths = first_run.paths
    assert paths.report("no").exists()
    assert sorted(p.stem for p in paths.cards.glob("*.html")) == sorted(
        pd.read_csv(paths.tables / "kommuner.csv", dtype=str).kommnr_2020)
    outputs = json.loads(paths.manifest.read_text())["outputs"]
    assert "rapport.html" in outputs and "kommuner/0301.html" in outputs
