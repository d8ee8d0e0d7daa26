"""Refusals of bad input and stops before a run starts: one distinct exit code per kind of problem."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

EXIT_CODES: dict[str, int] = {
    "missing_file": 10,
    "missing_column": 11,
    "wrong_type": 12,
    "duplicate_key": 13,
    "unknown_kommnr": 14,
    "kommnr_other_year": 15,
    "unknown_person": 16,
    "code_outside_list": 17,
    "impossible_date": 18,
    "empty_table": 19,
    "malformed_file": 20,
    "encoding": 21,
    "year_outside_study": 22,
    "missing_value": 23,
    "configuration": 24,
    "resources": 25,
    "locked": 26,
    "missing_prerequisite": 27,
    "file_system": 28,
    "disclosure": 30,
}


class ContractError(Exception):
    """Input that breaks the data contract. The message names file, column, count and example rows."""

    def __init__(
        self,
        kind: str,
        *,
        file: Path | str,
        column: str | None,
        count: int | None,
        examples: Sequence[object] = (),
        detail: str,
    ) -> None:
        if kind not in EXIT_CODES:
            raise ValueError(f"unknown refusal kind {kind!r}")
        self.kind = kind
        self.file = str(file)
        self.column = column
        self.count = count
        self.examples = list(examples)[:5]
        self.detail = detail
        super().__init__(self.message)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    @property
    def message(self) -> str:
        where = f"file {self.file}"
        if self.column:
            where += f", column '{self.column}'"
        count = f"{self.count:,} row(s)" if self.count is not None else "the file"
        shown = "; ".join(str(e) for e in self.examples)
        text = f"Refused ({self.kind}, exit {self.exit_code}): {where}: {count} {self.detail}."
        if shown:
            text += f" Examples: {shown}."
        return text + " Nothing was written; earlier outputs are untouched."


class ConfigurationError(ValueError):
    """An option that cannot work with these data (e.g. a reference municipality without observations)."""

    exit_code = EXIT_CODES["configuration"]


class RunError(Exception):
    """A command that cannot start or go on: a directory another run holds, a missing input of a stage,
    a file the system will not read or write. The message is one line that says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in EXIT_CODES:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.message = message
        super().__init__(message)

    def __reduce__(self):  # rebuilt from both arguments when it comes from a worker process
        return type(self), (self.kind, self.message)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]
