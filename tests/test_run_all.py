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
