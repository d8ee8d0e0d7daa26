"""Command line: one command per stage, plus `all`. Each command only builds settings and calls pipeline/."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

# One BLAS thread: the models are memory-bound at this size and steadier on a shared 2-core server.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.errors import EXIT_CODES, ConfigurationError, ContractError  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Register pipeline for refugees' work and education (Brekke et al. 2024, ch. 3).")

InputOpt = typer.Option(None, "--input", help="Directory of register extracts (input contract).")
WorkOpt = typer.Option(None, "--work", help="Confidential work directory (DuckDB, panel).")
OutOpt = typer.Option(None, "--out", help="Releasable output directory.")
ConfigOpt = typer.Option(None, "--config", help="TOML configuration; flags win over it.")
LanguageOpt = typer.Option(None, "--language", help="Figure labels: no (default) or en.")


def settings_from(config: Optional[Path], input: Optional[Path], work: Optional[Path], out: Optional[Path],
                  **overrides) -> Settings:
    try:
        return load_settings(config, input=input, work=work, out=out, **overrides)
    except (ValueError, KeyError, OSError) as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_CODES["configuration"]) from exc


def say(message: str) -> None:
    typer.echo(message, err=True)


def guarded(step):
    """Run a command's work; turn a refusal or a stop into its one-paragraph message and its exit code."""
    import duckdb
    import pyarrow

    from pipeline.errors import RunError

    try:
        return step()
    except ContractError as exc:
        say(exc.message)
        raise typer.Exit(exc.exit_code) from exc
    except RunError as exc:
        say(exc.message)
        raise typer.Exit(exc.exit_code) from exc
    except ConfigurationError as exc:
        say(f"Configuration error: {exc}")
        raise typer.Exit(exc.exit_code) from exc
    except duckdb.OutOfMemoryException as exc:
        say(f"DuckDB ran out of memory ({str(exc).splitlines()[0]}). Raise [duckdb] memory_limit in the "
            f"configuration or free disk space in the work directory, where DuckDB spills. "
            f"Earlier outputs are untouched.")
        raise typer.Exit(EXIT_CODES["resources"]) from exc
    except pyarrow.ArrowInvalid as exc:   # a WORK or OUT file another program or a killed run left broken
        say(f"Unreadable file: {' '.join(str(exc).split())} Run the stage that writes it again.")
        raise typer.Exit(EXIT_CODES["malformed_file"]) from exc
    except (OSError, duckdb.IOException) as exc:
        say(f"File system error: {exc}. Check that the directories exist, are writable and have free space.")
        raise typer.Exit(EXIT_CODES["file_system"]) from exc


def command_line() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def locked(directories, step):
    """Run `step` holding the locks on `directories` (pipeline/lock.py), with guarded's messages."""
    from pipeline.lock import hold

    def run():
        with hold(directories, command=command_line(), notify=say):
            return step()

    return guarded(run)


def run_step(name: str, settings: Settings, *, show: bool = False):
    """One step of the stage list (pipeline/run_all.py), holding the WORK and OUT locks."""
    from pipeline.lock import stage_directories
    from pipeline.run_all import run_step as run_one
    from pipeline.runlog import StageMeter

    return locked(stage_directories(settings.paths),
                  lambda: run_one(name, settings, StageMeter(settings.paths.run_log, show=show)))


@app.command()
def synth(
    scale: float = typer.Option(0.05, help="1.0 = Norway (about 5.4 million persons)."),
    seed: int = typer.Option(2024, help="Random seed; the same seed gives the same bytes."),
    out: Path = typer.Option(Path("data/synthetic"), "--out", help="Directory for the synthetic extracts."),
) -> None:
    """Write synthetic register extracts with planted parameters (truth.json)."""
    from data_synthetic.generate import run
    from pipeline.lock import LockedDirectory

    written = locked([LockedDirectory("synthetic data directory", out)], lambda: run(out, scale=scale, seed=seed))
    for path in written:
        typer.echo(str(path))


@app.command()
def validate(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
             config: Optional[Path] = ConfigOpt) -> None:
    """Check the extracts against the input contract; run nothing else."""
    from pipeline.registers.stage import validate as check

    settings = settings_from(config, input, work, out)
    tables = guarded(lambda: check(settings))
    for name, info in tables.items():
        typer.echo(f"{name:18s} {info['rows']:>12,} rows  {info['file']}")
    typer.echo("Extracts follow the input contract.")


@app.command()
def panel(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
          config: Optional[Path] = ConfigOpt) -> None:
    """Load, validate, harmonise; build the person-year panel and the municipality table."""
    settings = settings_from(config, input, work, out)
    result = run_step("panel", settings, show=True)
    flow = result["flow"]
    typer.echo(flow[["rule", "persons_out", "person_years_out"]].to_string(index=False))
    typer.echo(f"Panel: {settings.paths.person_year}")


@app.command()
def describe(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
             config: Optional[Path] = ConfigOpt) -> None:
    """Descriptive tables (figs 3.1-3.14, 3.17-3.20, table 3.1) with disclosure control."""
    settings = settings_from(config, input, work, out)
    typer.echo(f"{len(run_step('describe', settings))} tables written to {settings.paths.tables}")


@app.command()
def estimate(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
             config: Optional[Path] = ConfigOpt,
             normalisation: Optional[str] = typer.Option(None, help="reference or mean."),
             reference_municipality: Optional[str] = typer.Option(None, help="2020 code, e.g. 0301.")) -> None:
    """All models: fig 3.15, fig 3.16, municipality contributions, tables 3.2 and 3.3."""
    settings = settings_from(config, input, work, out, normalisation=normalisation,
                             reference_municipality=reference_municipality)
    written = run_step("estimate", settings, show=True)
    typer.echo(f"{len(written)} estimate tables written to {settings.paths.tables}")


@app.command()
def robustness(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
               config: Optional[Path] = ConfigOpt) -> None:
    """Robustness of figs 3.15, 3.16 and tables 3.2, 3.3 to eight definition variants, and the stability
    of the contributions across arrival cohorts."""
    settings = settings_from(config, input, work, out)
    typer.echo(f"{len(run_step('robustness', settings, show=True))} robustness tables written to {settings.paths.tables}")


@app.command()
def figures(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
            config: Optional[Path] = ConfigOpt, language: Optional[str] = LanguageOpt) -> None:
    """Render every figure (PNG + PDF) from the releasable tables."""
    settings = settings_from(config, input, work, out, language=language)
    typer.echo(f"{len(run_step('figures', settings))} figure files written to {settings.paths.figures}")


@app.command()
def manifest(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
             config: Optional[Path] = ConfigOpt,
             seed: Optional[int] = typer.Option(None, help="Seed of the synthetic data, if not in truth.json.")) -> None:
    """Write the run manifest (input hashes and rows, configuration, versions, commit, timings)."""
    settings = settings_from(config, input, work, out, seed=seed)
    typer.echo(str(run_step("manifest", settings)))


@app.command()
def report(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
           config: Optional[Path] = ConfigOpt, language: Optional[str] = LanguageOpt) -> None:
    """Write OUT/rapport.html (report.html with --language en), one self-contained page, and a card per
    municipality in OUT/kommuner, from OUT only; then the manifest again, to hash them."""
    settings = settings_from(config, input, work, out, language=language)
    written = run_step("report", settings)
    typer.echo(f"{written[0]} and {len(written) - 1} cards in {settings.paths.cards}")


@app.command()
def card(kommnr: Optional[str] = typer.Argument(None, help="2020 municipality code, e.g. 3435."),
         all_municipalities: bool = typer.Option(False, "--all", help="A card for every municipality."),
         dest: Optional[Path] = typer.Option(None, "--dest", help="Write the card(s) here instead of OUT/kommuner."),
         input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
         config: Optional[Path] = ConfigOpt, language: Optional[str] = LanguageOpt) -> None:
    """Write a municipality's card, OUT/kommuner/KOMMNR.html, from the releasable tables in OUT."""
    from pipeline.report.stage import write_cards

    if (kommnr is None) == (not all_municipalities):
        typer.echo("Give one municipality code (card 3435) or --all.", err=True)
        raise typer.Exit(EXIT_CODES["configuration"])
    from pipeline.lock import stage_directories

    settings = settings_from(config, input, work, out, language=language)
    try:
        written = locked(stage_directories(settings.paths),
                         lambda: write_cards(settings, kommnr=None if all_municipalities else [kommnr], directory=dest))
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CODES["configuration"]) from exc
    typer.echo(str(written[0]) if len(written) == 1 else f"{len(written)} cards in {written[0].parent}")


@app.command("compare-report")
def compare_report(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
                   config: Optional[Path] = ConfigOpt) -> None:
    """This run's numbers beside the report's published ones (reads only the output directory)."""
    settings = settings_from(config, input, work, out)
    for path in run_step("compare-report", settings):
        typer.echo(str(path))


@app.command("disclosure-check")
def disclosure_check(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt,
                     out: Optional[Path] = OutOpt, config: Optional[Path] = ConfigOpt) -> None:
    """Fail if the output directory holds identifiers, row-level tables or small cells."""
    settings = settings_from(config, input, work, out)
    problems = run_step("disclosure-check", settings)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_CODES["disclosure"])
    typer.echo(f"Disclosure check passed: {settings.paths.out}")


@app.command()
def reference(
    klass_dir: Path = typer.Option(..., "--klass", help="Directory with KLASS 131 JSON files."),
    out: Path = typer.Option(..., "--out", help="Where to write kommuneendringer.csv and kommuner_2020.csv."),
    config: Optional[Path] = ConfigOpt,
    download: bool = typer.Option(False, help="Download the JSON from SSB's KLASS API first (needs network)."),
) -> None:
    """Build the municipality crosswalk to the 2020 structure from SSB's classification 131."""
    from pipeline.reference import run

    settings = settings_from(config, None, None, None)
    for path in guarded(lambda: run(settings, klass_dir, out, download=download)):
        typer.echo(str(path))


@app.command()
def bench(
    scale: float = typer.Option(0.1, help="Synthetic scale to benchmark (1.0 = Norway)."),
    seed: int = typer.Option(2024),
    root: Path = typer.Option(Path("bench"), "--root", help="Scratch directory for data, work and outputs."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Time every stage (wall time, peak memory) and compare the models with pyfixest."""
    from pipeline.bench import run

    guarded(lambda: run(scale=scale, seed=seed, root=root, json_path=json_out, command=command_line(), notify=say))


@app.command("all")
def run_all(input: Optional[Path] = InputOpt, work: Optional[Path] = WorkOpt, out: Optional[Path] = OutOpt,
            config: Optional[Path] = ConfigOpt, language: Optional[str] = LanguageOpt,
            seed: Optional[int] = typer.Option(None, help="Seed of the synthetic data, for the manifest.")) -> None:
    """Every stage in order: panel, describe, estimate, robustness, compare-report, figures, manifest, report
    and cards, disclosure check."""
    from pipeline.lock import stage_directories
    from pipeline.run_all import run
    from pipeline.runlog import StageMeter

    settings = settings_from(config, input, work, out, language=language, seed=seed)
    results = locked(stage_directories(settings.paths),
                     lambda: run(settings, meter=StageMeter(settings.paths.run_log, show=True)))
    problems = results["disclosure-check"]
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_CODES["disclosure"])
    typer.echo(f"All stages done. Outputs in {settings.paths.out}")


if __name__ == "__main__":
    sys.exit(app())
