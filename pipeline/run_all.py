"""The `all` command: every stage in order, then the manifest, the report and cards, and the disclosure check."""
from __future__ import annotations

from pipeline import describe, disclosure_check, estimate, manifest, render
from pipeline.report import stage as report
from pipeline.config import Settings
from pipeline.register import build_panel
from pipeline.runlog import StageMeter


def run_stages(settings: Settings, meter: StageMeter) -> None:
    """Panel, describe, estimate and figures, each timed by `meter` (also used by `bench`)."""
    build_panel(settings, meter)
    with meter.stage("describe"):
        describe.run(settings)
    estimate.run(settings, meter)
    with meter.stage("figures"):
        render.run(settings)


def run(settings: Settings, *, show: bool = True) -> list[str]:
    """Run the pipeline; return the disclosure check's problems (empty when the outputs may leave)."""
    settings.paths.run_log.unlink(missing_ok=True)
    meter = StageMeter(settings.paths.run_log, show=show)
    run_stages(settings, meter)
    with meter.stage("manifest"):
        manifest.run(settings)
    with meter.stage("report"):
        report.run(settings)  # the report and every card, from OUT and the manifest
    manifest.run(settings)  # again, so that the manifest hashes the report and the cards
    return disclosure_check.run(settings)
