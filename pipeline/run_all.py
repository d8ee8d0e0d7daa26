"""The stage list: every step of `all`, in order, with the files each one needs.

`all`, `bench` and each stage command run steps from this one list, so a step added here is run by
`all`, timed by `bench` and checked for its inputs. Adding a step is one line in STEPS.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Paths, Settings
from pipeline.errors import RunError
from pipeline.runlog import StageMeter

# (file a step reads, the command that makes it)
Need = tuple[Path, str]
ESTIMATE_TABLES = ("fig3_15_coefficients", "fig3_16_r2_decomposition", "kommunebidrag")
ROBUSTNESS_TABLES = ("robustness", "kommunebidrag_kohorter")


def panel_files(paths: Paths) -> list[Need]:
    return [(paths.person_year, "panel"), (paths.refugees, "panel"), (paths.municipality_year, "panel")]


def figure_tables(paths: Paths) -> list[Need]:
    from pipeline import render

    stems = dict.fromkeys(stem for stem, _, _ in render.FIGURES.values())
    maker = {**dict.fromkeys(ESTIMATE_TABLES, "estimate"), **dict.fromkeys(ROBUSTNESS_TABLES, "robustness")}
    return [(paths.tables / f"{stem}.csv", maker.get(stem, "describe")) for stem in stems]


@dataclass(frozen=True)
class Step:
    name: str                                           # the command that runs this step alone
    run: Callable[[Settings, StageMeter], object]       # may time its own sub-steps with the meter
    needs: Callable[[Paths], Sequence[Need]] = lambda paths: ()


def stage(module: str, function: str = "run", *, metered: bool = False) -> Callable[[Settings, StageMeter], object]:
    """A step's work, `module.function(settings)` (with the meter when `metered`). The module is imported
    when the step runs, so a command that runs one step does not import the others (scipy, matplotlib)."""
    def run(settings: Settings, meter: StageMeter) -> object:
        work = getattr(importlib.import_module(module), function)
        return work(settings, meter) if metered else work(settings)
    return run


def report_then_manifest(settings: Settings, meter: StageMeter) -> object:
    """The report summarises the manifest; the manifest is written again to hash the report and the cards."""
    from pipeline import manifest
    from pipeline.report import stage as report

    written = report.run(settings)
    manifest.run(settings)
    return written


STEPS: tuple[Step, ...] = (
    Step("panel", stage("pipeline.register", "build_panel", metered=True)),
    Step("describe", stage("pipeline.describe"), panel_files),
    Step("estimate", stage("pipeline.estimate", metered=True),
         lambda paths: [(paths.person_year, "panel"), (paths.municipality_year, "panel")]),
    Step("robustness", stage("pipeline.robustness", metered=True),
         lambda paths: [(paths.person_year, "panel"), (paths.municipality_year, "panel")]),
    # reads only OUT; a table not (yet) written is a row marked missing
    Step("compare-report", stage("pipeline.compare")),
    Step("figures", stage("pipeline.render"), figure_tables),
    Step("manifest", stage("pipeline.manifest"), lambda paths: [(paths.sample_flow, "panel")]),
    Step("report", report_then_manifest,
         lambda paths: [(paths.manifest, "manifest"), (paths.tables / "kommunebidrag.csv", "estimate")]),
    Step("disclosure-check", stage("pipeline.disclosure_check"), lambda paths: [(paths.person_year, "panel")]),
)


def step_named(name: str) -> Step:
    return next(step for step in STEPS if step.name == name)


def check_needs(step: Step, paths: Paths) -> None:
    """Stop with one line naming the first missing input and the commands that make the missing ones."""
    missing = [(path, maker) for path, maker in step.needs(paths) if not path.exists()]
    if not missing:
        return
    names = [f"`{m}`" for m in dict.fromkeys(maker for _, maker in missing)]
    makers = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    others = f" (and {len(missing) - 1} more of its inputs)" if len(missing) > 1 else ""
    raise RunError("missing_prerequisite",
                   f"`{step.name}` cannot start: {missing[0][0]} is missing{others}: run {makers} first.")


def run_step(name: str, settings: Settings, meter: StageMeter) -> object:
    """Check one step's inputs, then run it under the meter; return what it returns."""
    step = step_named(name)
    check_needs(step, settings.paths)
    with meter.stage(step.name):
        return step.run(settings, meter)


def run(settings: Settings, *, meter: StageMeter) -> dict[str, object]:
    """Every step in order; return each step's result by name (the disclosure check's: its problems)."""
    settings.paths.run_log.unlink(missing_ok=True)
    return {step.name: run_step(step.name, settings, meter) for step in STEPS}
