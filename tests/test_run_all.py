"""The stage list (pipeline/run_all.py): a stage run out of order says in one line what it misses and
which command makes it, with its own exit code and no traceback."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import render
from pipeline.errors import EXIT_CODES
from pipeline.run_all import STEPS

runner = CliRunner()


def invoke(tmp_path, *args):
    dirs = ["--input", str(tmp_path / "in"), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    return runner.invoke(app, [*args, *dirs])


@pytest.mark.parametrize("command, missing, makers", [
    ("describe", "panel/person_year.parquet is missing (and 2 more", "run `panel` first"),
    ("estimate", "panel/person_year.parquet is missing (and 1 more", "run `panel` first"),
    ("figures", f"tables/fig3_01.csv is missing (and {len({stem for stem, _, _ in render.FIGURES.values()}) - 1} more",
     "run `describe`, `estimate` and `robustness` first"),
    ("manifest", "sample_flow.csv is missing:", "run `panel` first"),
    ("disclosure-check", "panel/person_year.parquet is missing:", "run `panel` first"),
    ("report", "manifest.json is missing (and 1 more", "run `manifest` and `estimate` first"),
    ("robustness", "panel/person_year.parquet is missing (and 1 more", "run `panel` first"),
])
def test_a_stage_on_an_empty_work_and_out_names_what_is_missing_in_one_line(tmp_path, command, missing, makers):
    result = invoke(tmp_path, command)
    assert result.exit_code == EXIT_CODES["missing_prerequisite"], result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"`{command}` cannot start: ") and missing in lines[0] and makers in lines[0]


@pytest.mark.parametrize("command", ["estimate", "robustness"])
def test_a_broken_work_file_is_one_line_naming_it(tmp_path, command):
    panel = tmp_path / "work" / "panel"
    panel.mkdir(parents=True)
    for name in ("person_year.parquet", "municipality_year.parquet"):
        (panel / name).write_text("not parquet\n", encoding="utf-8")   # as a killed copy could leave it
    result = invoke(tmp_path, command)
    assert result.exit_code == EXIT_CODES["malformed_file"], result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Unreadable file: ") and "person_year.parquet" in lines[0], lines


def test_figures_names_only_the_command_still_to_run(tmp_path):
    from pipeline.run_all import figure_tables
    from pipeline.config import load_settings

    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    for path, maker in figure_tables(settings.paths):
        if maker == "describe":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x\n", encoding="utf-8")
    result = invoke(tmp_path, "figures")
    assert result.exit_code == EXIT_CODES["missing_prerequisite"]
    assert "fig3_15_coefficients.csv" in result.stderr and "run `estimate` and `robustness` first" in result.stderr


@pytest.mark.parametrize("command", ["panel", "all", "validate"])
def test_a_run_on_an_empty_input_names_the_missing_extract(tmp_path, command):
    (tmp_path / "in").mkdir()
    result = invoke(tmp_path, command)
    assert result.exit_code == EXIT_CODES["missing_file"], result.output
    assert isinstance(result.exception, SystemExit)
    assert "personer" in result.stderr


def test_every_step_is_a_command():
    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert [step.name for step in STEPS if step.name not in commands] == []


def test_the_steps_that_read_only_the_panel_form_one_wave():
    from pipeline.run_all import waves

    assert [[step.name for step in wave] for wave in waves()] == [
        ["panel"], ["describe", "estimate", "robustness"], ["compare-report"], ["figures"], ["manifest"],
        ["report"], ["disclosure-check"]]
    assert [step for wave in waves() for step in wave] == list(STEPS)


def waved_settings(tmp_path):
    from pipeline.config import load_settings

    return load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")


def test_a_wave_runs_its_steps_in_two_processes_and_keeps_their_timings(tmp_path):
    import os
    import time

    from pipeline.run_all import Step, run_beside
    from pipeline.runlog import StageMeter

    def sleeper(settings, meter):
        with meter.stage("inner"):
            time.sleep(0.5)
        return os.getpid()

    wave = [Step("a", sleeper, beside=True), Step("b", sleeper, beside=True)]
    meter = StageMeter()
    start = time.perf_counter()
    results = run_beside(wave, waved_settings(tmp_path), meter)
    took = time.perf_counter() - start
    assert set(results) == {"a", "b"} and len(set(results.values())) == 2   # two processes
    assert took < 0.95, took   # side by side, not one after the other
    names = [row["stage"] for row in meter.stages]
    assert names[-1] == "a+b" and sorted(names[:-1]) == ["a+b/a", "a+b/a/inner", "a+b/b", "a+b/b/inner"]
    assert all(row["seconds"] >= 0.5 for row in meter.stages)


def test_an_error_in_a_wave_reaches_the_caller_with_its_kind(tmp_path):
    from pipeline.errors import RunError
    from pipeline.run_all import Step, run_beside
    from pipeline.runlog import StageMeter

    def fails(settings, meter):
        raise RunError("missing_prerequisite", "step b cannot start")

    wave = [Step("a", lambda settings, meter: 1, beside=True), Step("b", fails, beside=True)]
    with pytest.raises(RunError) as raised:
        run_beside(wave, waved_settings(tmp_path), StageMeter())
    assert raised.value.kind == "missing_prerequisite" and "step b" in raised.value.message


def test_a_wave_with_a_missing_input_starts_no_step(tmp_path):
    from pipeline.errors import RunError
    from pipeline.run_all import Step, run_beside
    from pipeline.runlog import StageMeter

    ran = tmp_path / "ran"

    def touches(settings, meter):
        ran.write_text("x")

    wave = [Step("a", touches, beside=True),
            Step("b", touches, lambda paths: [(paths.person_year, "panel")], beside=True)]
    with pytest.raises(RunError, match="`b` cannot start"):
        run_beside(wave, waved_settings(tmp_path), StageMeter())
    assert not ran.exists()


def test_a_wave_peak_adds_the_largest_peak_of_each_process(monkeypatch):
    from pipeline import runlog
    from pipeline.runlog import StageMeter

    monkeypatch.setattr(runlog, "peak_memory_mib", lambda: 50.0)   # this process, waiting for the others

    def step(name, peak, depth=0):
        return {"stage": name, "seconds": 1.0, "peak_mib": peak, "depth": depth}

    meter = StageMeter()
    with meter.stage("a+b+c"):
        meter.add_concurrent([([step("a/x", 250.0, 1), step("a", 300.0)], 1),   # two steps one after the other
                              ([step("c", 100.0)], 1),
                              ([step("b", 200.0)], 2)])
    wave = meter.stages[-1]
    assert wave["stage"] == "a+b+c" and wave["peak_mib"] == 500.0
    assert [row["stage"] for row in meter.stages[:-1]] == ["a+b+c/a/x", "a+b+c/a", "a+b+c/c", "a+b+c/b"]
    assert [row["depth"] for row in meter.stages[:-1]] == [2, 1, 1, 1]
