"""The `all` command: every stage in order, then the manifest and the disclosure check."""
from __future__ import annotations

from pipeline import describe, disclosure_check, estimate, manifest, render
from pipeline.config import Settings
from pipeline.register import build_panel
from pipeline.runlog import Timer, record


def run(settings: Settings) -> list[str]:
    """Run the pipeline; return the disclosure check's problems (empty when the outputs may leave)."""
    settings.paths.run_log.unlink(missing_ok=True)
    build_panel(settings)
    for name, stage in (("describe", describe), ("estimate", estimate), ("figures", render)):
        with Timer() as t:
            stage.run(settings)
        record(settings.paths.run_log, name, "timing", seconds=round(t.seconds, 3))
    manifest.run(settings)
    return disclosure_check.run(settings)
