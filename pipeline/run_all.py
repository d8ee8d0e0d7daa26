"""The stage list: every step of `all`, in order, with the files each one needs.

`all`, `bench` and each stage command run steps from this one list, so a step added here is run by
`all`, timed by `bench` and checked for its inputs. Adding a step is one line in STEPS.

Steps marked `beside` read only the panel and write tables of their own; `all` runs neighbouring ones
side by side, one in this process and one in a forked process (pipeline/background.py).
"""
from __future__ import annotations

import importlib
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Paths, Settings
from pipeline.errors import RunError
from pipeline.runlog import StageMeter

# (file a step reads, the command that makes it)
Need = tuple[Path, str]
# the longest steps of a wave (about 12 and 10 s at scale 1.0, the others 2 s), started first
LONGEST_FIRST = ("robustness", "estimate")
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
    beside: bool = False                                # may run beside the neighbouring `beside` steps


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
    Step("panel", stage("pipeline.registers.stage", "build_panel", metered=True)),
    Step("describe", stage("pipeline.describe"), panel_files, beside=True),
    Step("estimate", stage("pipeline.estimate", metered=True),
         lambda paths: [(paths.person_year, "panel"), (paths.municipality_year, "panel")], beside=True),
    Step("robustness", stage("pipeline.robustness", metered=True),
         lambda paths: [(paths.person_year, "panel"), (paths.municipality_year, "panel")], beside=True),
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
    """Check the inputs of the step `name`, then run it under the meter; return what it returns."""
    return run_checked(step_named(name), settings, meter)


def run_checked(step: Step, settings: Settings, meter: StageMeter) -> object:
    check_needs(step, settings.paths)
    with meter.stage(step.name):
        return step.run(settings, meter)


def waves(steps: Sequence[Step] = STEPS) -> list[tuple[Step, ...]]:
    """The steps in order, neighbouring `beside` steps grouped into one wave; every other step alone."""
    grouped = itertools.groupby(steps, key=lambda step: step.beside)
    return [wave for beside, group in grouped for wave in ([tuple(group)] if beside else [(s,) for s in group])]


def run_beside(wave: Sequence[Step], settings: Settings, meter: StageMeter) -> dict[str, object]:
    """The steps of one wave on two processes, timed as one stage `a+b+c` of `meter` with each step's own
    timing (each process measures its own) inside it."""
    from pipeline import background

    for step in wave:
        check_needs(step, settings.paths)

    def job(step: Step) -> tuple[object, list[dict], int]:
        own = StageMeter(settings.paths.run_log)   # each process times its own steps
        result = run_checked(step, settings, own)
        return result, own.stages, os.getpid()

    order = sorted(wave, key=lambda step: step.name not in LONGEST_FIRST)   # so that both processes end together
    with meter.stage("+".join(step.name for step in wave)):
        _, done = background.share(job, order, name=" and ".join(step.name for step in wave),
                                   processes=settings.duckdb_threads)
        meter.add_concurrent([(stages, process) for _, stages, process in done])
    return {step.name: result for step, (result, _, _) in zip(order, done)}


def run(settings: Settings, *, meter: StageMeter) -> dict[str, object]:
    """Every step in order, a wave of `beside` steps side by side; return each step's result by name (the
    disclosure check's: its problems)."""
    settings.paths.run_log.unlink(missing_ok=True)
    results: dict[str, object] = {}
    for wave in waves():
        if len(wave) == 1:
            results[wave[0].name] = run_step(wave[0].name, settings, meter)
        else:
            results |= run_beside(wave, settings, meter)
    return results
