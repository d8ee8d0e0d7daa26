"""Municipality reference tables from SSB's classification 131 (KLASS): `kommuneendringer`, `kommuner_2020`.

Reads the KLASS API's JSON as served (offline, from a directory the user names): the change list
(`changes.json` or `changetables.json`: oldCode, oldName, newCode, newName, changeOccurred), the versions
(`Kommuneinndeling_YYYY.json` with classificationItems) and, when present, the version list `131.json`
(validFrom/validTo). Downloading from the public API happens only with `download=True`.

Definition (methods.md §4): every code valid on 1 January of each study year is followed forward through
the dated code changes to the structure of the last study year (2020, 356 municipalities; 9999 "Uoppgitt"
excluded). KLASS gives splits no weights, so a split follows the configured rule `splits` (old code ->
2020 code: the whole old municipality goes there); a split without a rule is an error.
"""
from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline.errors import ContractError
from pipeline.io import write_csv, write_text

KLASS_API = "https://data.ssb.no/api/klass/v1"
CLASSIFICATION_ID = "131"
CLASSIFICATION_FILE = f"{CLASSIFICATION_ID}.json"
CHANGE_FILE_NAMES = ("changes.json", "changetables.json")
VERSION_FILE = re.compile(r"^Kommuneinndeling_(\d{4})\.json$")
UNKNOWN_CODE = "9999"
STRUCTURE_YEAR = 2020
CROSSWALK_COLUMNS = ("aar", "kommnr", "kommnr_2020")
MUNICIPALITY_COLUMNS = (
    "kommnr_2020", "kommunenavn",
    "sentralitetsindeks", "sentralitetsklasse", "okonomisk_region", "sykehus_i_region",
)
# Published by SSB outside KLASS: left empty for the user to fill (data-contract.md, `kommuner_2020`).
EXTERNAL_COLUMNS = {
    "sentralitetsindeks": "Float64",
    "sentralitetsklasse": "Int64",
    "okonomisk_region": "str",
    "sykehus_i_region": "boolean",
}


class KlassError(ContractError):
    """The KLASS files (or the split rules) cannot give a complete, unambiguous crosswalk.

    A ContractError, so the CLI prints the message and exits with the code of `kind`.
    """

    def __init__(self, detail: str, *, kind: str = "malformed_file") -> None:
        super().__init__(kind, file="KLASS 131", column=None, count=None, detail=detail)

    @property
    def message(self) -> str:
        return (f"Refused ({self.kind}, exit {self.exit_code}): KLASS 131: {self.detail}. "
                "Nothing was written; earlier outputs are untouched.")


@dataclass(frozen=True)
class CodeChange:
    old_code: str
    old_name: str
    new_code: str
    new_name: str
    occurred: date


@dataclass(frozen=True)
class Version:
    """One classification version: the codes (-> names) valid from `valid_from` up to, not incl., `valid_to`."""

    name: str
    valid_from: date
    valid_to: date | None
    items: Mapping[str, str]
    source: str

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class SplitStep:
    """A code that KLASS splits into several codes on `occurred`; `parts` are where the pieces end up."""

    code: str
    name: str
    occurred: date
    parts: tuple[str, ...]


class _UnruledSplit(Exception):
    def __init__(self, step: SplitStep) -> None:
        super().__init__(step.code)
        self.step = step


# ---------------------------------------------------------------------------------------------------
# Reading (the only I/O of build_reference_tables)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise KlassError(f"{path}: not valid JSON ({exc})") from exc


def _day(text: str | None, where: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError as exc:
        raise KlassError(f"{where}: date {text!r} is not YYYY-MM-DD") from exc


def change_file(klass_dir: Path) -> Path:
    """The change list in `klass_dir`: `changes.json` (API name) or `changetables.json`."""
    found = [klass_dir / name for name in CHANGE_FILE_NAMES if (klass_dir / name).is_file()]
    if not found:
        raise KlassError(kind="missing_file", detail=
            f"{klass_dir}: no KLASS change list; expected one of {list(CHANGE_FILE_NAMES)} "
            f"({KLASS_API}/classifications/{CLASSIFICATION_ID}/changes)"
        )
    if len(found) > 1:
        raise KlassError(f"{klass_dir}: both {found[0].name} and {found[1].name} present; keep one")
    return found[0]


def read_changes(path: Path) -> list[CodeChange]:
    """`codeChanges` of a KLASS changes.json, as dated code changes."""
    raw = _read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("codeChanges"), list):
        raise KlassError(f"{path}: expected an object with a 'codeChanges' list (KLASS changes.json)")
    changes = []
    for i, entry in enumerate(raw["codeChanges"]):
        where = f"{path} codeChanges[{i}]"
        missing = [k for k in ("oldCode", "newCode", "changeOccurred") if not entry.get(k)]
        if missing:
            raise KlassError(f"{where}: missing {missing}: {entry}")
        changes.append(CodeChange(
            old_code=str(entry["oldCode"]).strip(), old_name=str(entry.get("oldName") or "").strip(),
            new_code=str(entry["newCode"]).strip(), new_name=str(entry.get("newName") or "").strip(),
            occurred=_day(entry["changeOccurred"], where),
        ))
    return changes


def read_versions(klass_dir: Path) -> list[Version]:
    """Every `Kommuneinndeling_YYYY.json` in `klass_dir`, with its validity period.

    Validity: from `131.json` (validFrom/validTo) when it lists the version, else the file's own
    validFrom/validTo, else the file name: YYYY covers 1 January YYYY up to the next file's YYYY
    (the last file: its own year only).
    """
    files = sorted(
        (int(m.group(1)), p) for p in klass_dir.iterdir() if (m := VERSION_FILE.match(p.name))
    )
    if not files:
        raise KlassError(kind="missing_file", detail=f"{klass_dir}: no version files named Kommuneinndeling_YYYY.json")
    listed: dict[object, dict] = {}
    listing = klass_dir / CLASSIFICATION_FILE
    if listing.is_file():
        for v in (_read_json(listing) or {}).get("versions", []):
            listed[("id", v.get("id"))] = v
            listed[("name", str(v.get("name", "")).strip())] = v
    versions = []
    for k, (year, path) in enumerate(files):
        raw = _read_json(path)
        if not isinstance(raw, dict) or not isinstance(raw.get("classificationItems"), list):
            raise KlassError(f"{path}: expected an object with a 'classificationItems' list (KLASS version)")
        name = str(raw.get("name") or f"Kommuneinndeling {year}").strip()
        meta = listed.get(("id", raw.get("id"))) if raw.get("id") is not None else None
        meta = meta or listed.get(("name", name)) or raw
        valid_from = _day(meta.get("validFrom"), str(path))
        if valid_from is None:
            valid_from = date(year, 1, 1)
            valid_to = date(files[k + 1][0], 1, 1) if k + 1 < len(files) else date(year + 1, 1, 1)
        else:
            valid_to = _day(meta.get("validTo"), str(path))
        items = {
            str(item["code"]).strip(): str(item.get("name") or "").strip()
            for item in raw["classificationItems"]
            if str(item.get("level", "1")) == "1"
        }
        versions.append(Version(name, valid_from, valid_to, items, path.name))
    return versions


# ---------------------------------------------------------------------------------------------------
# Pure functions


def version_on(versions: Iterable[Version], day: date) -> Version | None:
    """The version valid on `day`, or None; several claiming the same day is an error."""
    valid = [v for v in versions if v.valid_on(day)]
    if len(valid) > 1:
        raise KlassError(f"several versions are valid on {day}: {sorted(v.source for v in valid)}")
    return valid[0] if valid else None


def index_changes(changes: Iterable[CodeChange]) -> dict[str, list[CodeChange]]:
    """old code -> its changes, by date."""
    by_old: dict[str, list[CodeChange]] = defaultdict(list)
    for change in changes:
        by_old[change.old_code].append(change)
    return {code: sorted(rows, key=lambda c: (c.occurred, c.new_code)) for code, rows in by_old.items()}


def follow_code(
    code: str,
    valid_on: date,
    until: date,
    changes_by_old: Mapping[str, list[CodeChange]],
    splits: Mapping[str, str],
) -> tuple[str, list[tuple[SplitStep, str]]]:
    """Code valid on `valid_on` -> code valid on `until`, applying changes dated after `valid_on`, up to `until`.

    At each step the earliest pending change date applies: one new code is a merge or renumbering (a
    name change keeps the code); several new codes are a split, resolved by `splits[code]` (which must
    be where one of the parts ends up) or raised as `_UnruledSplit`. Returns the final code and the
    splits resolved on the way as (split, rule target).
    """
    current, when = code, valid_on
    resolved: list[tuple[SplitStep, str]] = []
    while True:
        pending = [c for c in changes_by_old.get(current, ()) if when < c.occurred <= until]
        if not pending:
            return current, resolved
        first = min(c.occurred for c in pending)
        step = [c for c in pending if c.occurred == first]
        new_codes = sorted({c.new_code for c in step})
        if len(new_codes) == 1:
            current, when = new_codes[0], first
            continue
        parts = sorted({follow_code(new, first, until, changes_by_old, splits)[0] for new in new_codes})
        split = SplitStep(current, step[0].old_name, first, tuple(parts))
        if current not in splits:
            raise _UnruledSplit(split)
        target = splits[current]
        if target not in parts:
            raise KlassError(kind="configuration", detail=
                f"split rule {current} -> {target}: {current} {split.name} splits on {first} into parts that "
                f"end up in {list(parts)}, not in {target}; fix [splits] in the configuration"
            )
        resolved.append((split, target))
        return target, resolved


def build_crosswalk(
    versions: list[Version],
    changes: list[CodeChange],
    *,
    first_year: int,
    last_year: int,
    splits: Mapping[str, str],
) -> tuple[pd.DataFrame, Version, dict]:
    """kommuneendringer: (aar, kommnr valid 1 Jan aar) -> kommnr_2020 valid 1 Jan `last_year` (methods.md §4)."""
    if first_year > last_year:
        raise KlassError(kind="configuration", detail=f"first_year {first_year} is after last_year {last_year}")
    target_day = date(last_year, 1, 1)
    target = version_on(versions, target_day)
    if target is None:
        hint = (
            "" if last_year == STRUCTURE_YEAR else
            f" The pipeline maps to the structure of the last study year, normally {STRUCTURE_YEAR}; "
            f"last_year is {last_year}."
        )
        raise KlassError(kind="missing_file", detail=
            f"no Kommuneinndeling version valid on {target_day} among {sorted(v.source for v in versions)}.{hint}"
        )
    target_codes = set(target.items) - {UNKNOWN_CODE}
    by_old = index_changes(changes)
    rows: list[tuple[int, str, str]] = []
    versions_used: dict[int, str] = {}
    unruled: dict[str, SplitStep] = {}
    dead_ends: list[str] = []
    applied: dict[str, dict] = {}
    for year in range(first_year, last_year + 1):
        day = date(year, 1, 1)
        version = version_on(versions, day)
        if version is None:
            raise KlassError(kind="missing_file", detail=
                f"no Kommuneinndeling version valid on {day} among {sorted(v.source for v in versions)}; "
                f"add the version file (download: {KLASS_API}/classifications/{CLASSIFICATION_ID})"
            )
        versions_used[year] = version.name
        for code in sorted(set(version.items) - {UNKNOWN_CODE}):
            try:
                final, resolved = follow_code(code, day, target_day, by_old, splits)
            except _UnruledSplit as exc:
                unruled[exc.step.code] = exc.step
                continue
            if final not in target_codes:
                dead_ends.append(f"{year}: {code} {version.items[code]} -> {final}")
                continue
            for split, rule_target in resolved:
                entry = applied.setdefault(split.code, {
                    "kommnr": split.code, "kommunenavn": split.name, "split_on": split.occurred.isoformat(),
                    "parts_end_in": list(split.parts), "kommnr_2020": rule_target, "years": [],
                })
                if year not in entry["years"]:
                    entry["years"].append(year)
            rows.append((year, code, final))
    if unruled:
        lines = "; ".join(
            f"{s.code} {s.name} on {s.occurred} into {list(s.parts)}" for s in unruled.values()
        )
        example = next(iter(unruled.values()))
        raise KlassError(kind="configuration", detail=
            f"KLASS splits these municipalities and [splits] has no rule for them: {lines}. KLASS gives no "
            f"weights, so name the one {target.name} municipality that gets the whole old one, e.g. "
            f'[splits] "{example.code}" = "{example.parts[0]}"'
        )
    if dead_ends:
        raise KlassError(
            f"{len(dead_ends)} codes do not reach a municipality of {target.name} through the change list "
            f"(is a change missing?): {dead_ends[:10]}"
        )
    crosswalk = pd.DataFrame(rows, columns=list(CROSSWALK_COLUMNS))
    crosswalk["aar"] = crosswalk["aar"].astype("int64")
    for col in ("kommnr", "kommnr_2020"):
        crosswalk[col] = crosswalk[col].astype("str")
    report = {
        "target_version": target.name,
        "target_date": target_day.isoformat(),
        "versions": versions_used,
        "rows": len(crosswalk),
        "codes_per_year": crosswalk.groupby("aar").size().astype(int).to_dict(),
        "recoded_per_year": (
            (crosswalk["kommnr"] != crosswalk["kommnr_2020"]).groupby(crosswalk["aar"]).sum().astype(int).to_dict()
        ),
        "municipalities_reached_per_year": crosswalk.groupby("aar")["kommnr_2020"].nunique().astype(int).to_dict(),
        "splits_applied": [applied[k] for k in sorted(applied)],
        "split_rules_unused": sorted(set(splits) - set(applied)),
        "excluded_codes": [UNKNOWN_CODE],
    }
    return crosswalk, target, report


def municipality_skeleton(target: Version) -> pd.DataFrame:
    """kommuner_2020: code and name of each municipality of the target version (9999 excluded); the
    externally published columns empty."""
    codes = sorted(set(target.items) - {UNKNOWN_CODE})
    frame = pd.DataFrame({
        "kommnr_2020": pd.Series(codes, dtype="str"),
        "kommunenavn": pd.Series([target.items[c] for c in codes], dtype="str"),
    })
    for col, dtype in EXTERNAL_COLUMNS.items():
        frame[col] = pd.Series([pd.NA] * len(frame), dtype=dtype)
    return frame[list(MUNICIPALITY_COLUMNS)]


def missing_columns(municipalities: pd.DataFrame) -> dict[str, int]:
    """External column -> number of municipalities with no value."""
    return {
        col: int(municipalities[col].isna().sum())
        for col in EXTERNAL_COLUMNS
        if col not in municipalities or municipalities[col].isna().any()
    }


def build_reference_tables(
    klass_dir: Path, *, first_year: int, last_year: int, splits: dict[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(kommuneendringer, kommuner_2020, report) from the KLASS 131 JSON files in `klass_dir`.

    kommuneendringer: aar, kommnr (valid 1 January aar), kommnr_2020 (valid 1 January last_year).
    kommuner_2020: kommnr_2020, kommunenavn and the four columns SSB publishes outside KLASS, all null
    (listed in report["missing_columns"]).
    """
    klass_dir = Path(klass_dir)
    if not klass_dir.is_dir():
        raise KlassError(f"{klass_dir}: not a directory", kind="missing_file")
    changes_path = change_file(klass_dir)
    changes = read_changes(changes_path)
    versions = read_versions(klass_dir)
    crosswalk, target, report = build_crosswalk(
        versions, changes, first_year=first_year, last_year=last_year, splits=splits,
    )
    municipalities = municipality_skeleton(target)
    report = {
        "klass_dir": str(klass_dir),
        "change_file": changes_path.name,
        "changes_read": len(changes),
        "municipalities_2020": len(municipalities),
        **report,
        "missing_columns": missing_columns(municipalities),
    }
    return crosswalk, municipalities, report


# ---------------------------------------------------------------------------------------------------
# Download (only with download=True) and the stage


Fetch = Callable[[str], bytes]


def _fetch_url(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise KlassError(
            f"could not download {url} ({exc}); without a network, put the JSON files in the directory "
            "and run without --download", kind="missing_file",
        ) from exc


def download_klass(
    klass_dir: Path, *, first_year: int, last_year: int, fetch: Fetch = _fetch_url,
) -> list[Path]:
    """Save 131.json, changes.json and the versions valid in first_year..last_year from SSB's KLASS API."""
    klass_dir = Path(klass_dir)

    def get(url: str) -> object:
        body = fetch(url)
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KlassError(f"{url}: the answer is not JSON ({exc})") from exc

    def save(obj: object, name: str) -> Path:
        return write_text(json.dumps(obj, ensure_ascii=False), klass_dir / name)

    base = f"{KLASS_API}/classifications/{CLASSIFICATION_ID}"
    listing = get(f"{base}?language=nb")
    changes = get(f"{base}/changes?" + urllib.parse.urlencode({"from": "0001-01-01", "language": "nb"}))
    change_name = next((n for n in CHANGE_FILE_NAMES if (klass_dir / n).is_file()), CHANGE_FILE_NAMES[0])
    written = [save(listing, CLASSIFICATION_FILE), save(changes, change_name)]
    period_start, period_end = date(first_year, 1, 1), date(last_year, 1, 1)
    for v in listing.get("versions", []):
        valid_from = _day(v.get("validFrom"), "131.json")
        valid_to = _day(v.get("validTo"), "131.json")
        if valid_from is None or valid_from > period_end or (valid_to is not None and valid_to <= period_start):
            continue
        href = v.get("_links", {}).get("self", {}).get("href") or f"{KLASS_API}/versions/{v['id']}"
        sep = "&" if "?" in href else "?"
        written.append(save(get(f"{href}{sep}language=nb"), f"Kommuneinndeling_{valid_from.year}.json"))
    return written


def _kept_filled(path: Path, skeleton: pd.DataFrame) -> bool:
    """True if `path` is a kommuner_2020 CSV the user has started to fill (then it is not overwritten)."""
    if not path.is_file():
        return False
    existing = pd.read_csv(path, dtype=str, sep=None, engine="python", keep_default_na=False)
    filled = [c for c in EXTERNAL_COLUMNS if c in existing and (existing[c].str.strip() != "").any()]
    if not filled:
        return False
    if "kommnr_2020" not in existing or set(existing["kommnr_2020"]) != set(skeleton["kommnr_2020"]):
        raise KlassError(
            f"{path} has filled columns {filled} but not the same municipalities as the new skeleton; "
            "move it away and fill the new one"
        )
    return True


def format_report(report: dict) -> str:
    """Short plain-text summary for the terminal."""
    lines = [
        f"KLASS 131 in {report['klass_dir']} ({report['change_file']}, {report['changes_read']} changes)",
        f"target: {report['target_version']} on {report['target_date']}: "
        f"{report['municipalities_2020']} municipalities (9999 Uoppgitt excluded)",
    ]
    for year, n in report["codes_per_year"].items():
        lines.append(
            f"  {year}: {n} codes ({report['versions'][year]}), {report['recoded_per_year'][year]} recoded, "
            f"reach {report['municipalities_reached_per_year'][year]} municipalities"
        )
    for s in report["splits_applied"]:
        lines.append(
            f"split rule applied: {s['kommnr']} {s['kommunenavn']} (split {s['split_on']} into "
            f"{', '.join(s['parts_end_in'])}) -> all to {s['kommnr_2020']}, years {s['years'][0]}-{s['years'][-1]}"
        )
    if report["split_rules_unused"]:
        lines.append(f"split rules not needed in these years: {report['split_rules_unused']}")
    if report.get("kommuner_2020_kept"):
        lines.append("kommuner_2020: existing filled file kept, not overwritten")
    if report["missing_columns"]:
        lines.append(
            "kommuner_2020: fill these columns from SSB (not in KLASS): "
            + ", ".join(f"{c} ({n} empty)" for c, n in report["missing_columns"].items())
        )
    return "\n".join(lines)


def run(settings, klass_dir: Path, out_dir: Path, *, download: bool = False) -> list[Path]:
    """Write kommuneendringer.csv and kommuner_2020.csv (file names from settings.files) into `out_dir`.

    Reads only local files unless `download=True`, which first saves the KLASS JSON into `klass_dir`.
    An existing kommuner_2020.csv with filled external columns is kept, not overwritten. The report is
    printed, not logged: this tool runs before the pipeline and writes nothing under settings.paths.
    """
    klass_dir, out_dir = Path(klass_dir), Path(out_dir)
    if download:
        download_klass(klass_dir, first_year=settings.first_year, last_year=settings.last_year)
    crosswalk, municipalities, report = build_reference_tables(
        klass_dir, first_year=settings.first_year, last_year=settings.last_year, splits=dict(settings.splits),
    )
    files = settings.files
    crosswalk_path = out_dir / f"{files.get('kommuneendringer', 'kommuneendringer')}.csv"
    municipalities_path = out_dir / f"{files.get('kommuner_2020', 'kommuner_2020')}.csv"
    keep_municipalities = _kept_filled(municipalities_path, municipalities)
    written = [write_csv(crosswalk, crosswalk_path)]
    if keep_municipalities:
        existing = pd.read_csv(municipalities_path, dtype=str, sep=None, engine="python")
        report["kommuner_2020_kept"] = str(municipalities_path)
        report["missing_columns"] = {
            c: int(existing[c].isna().sum()) if c in existing else len(existing)
            for c in EXTERNAL_COLUMNS if c not in existing or existing[c].isna().any()
        }
    else:
        written.append(write_csv(municipalities, municipalities_path))
    print(format_report(report))
    return written
