"""Stage 3, the refugee person-year panel (methods.md §1-3) and its sample flow."""
from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.config import Settings
from pipeline.registers.db import query_sql, run_sql, set_study_variables
from pipeline.schema import PERSON_YEAR

PERSON_RULES = {
    "not_refugee_category": "innvandringsgrunn not one of the three categories",
    "no_immigration_date": "refugee category without an immigration date",
    "immigrated_before_study": "immigrated before the first study year",
    "settlement_after_study": "settlement (1 January after immigration) after the last study year",
}
PERSON_YEAR_RULES = {
    "no_residence_after_arrival": "not resident on 1 January of any study year (no person-year)",
    "resident_before_settlement": "person-year before the settlement year (botid < 0)",
    "no_income_record": "no income record that year (died, emigrated or missing)",
}
# An event table delivered with a header only is accepted; the flow says so in a first row that excludes nobody.
EMPTY_TABLE_NOTES = {
    "utdanning": "utdanning has no rows (header only): no education at arrival (group 99), nobody in education",
    "familie": "familie has no rows (header only): nobody has a partner at arrival",
}
FLOW_COLUMNS = ["step", "rule", "description", "persons_in", "person_years_in", "persons_excluded",
                "person_years_excluded", "persons_out", "person_years_out"]


def sample_flow(persons_in: int, person_years_in: int, exclusions: pd.DataFrame,
                extra_steps: list[tuple[str, str, int, int]] = (), *,
                empty_tables: tuple[str, ...] = ()) -> pd.DataFrame:
    """Running totals of the sample flow: out = in - excluded at every step, in = previous out.

    `exclusions` has columns level, rule, persons, person_years (sql/32_sample_flow.sql); rules appear in
    the order of PERSON_RULES then PERSON_YEAR_RULES, with zero rows for rules that removed nothing.
    Each accepted header-only event table in `empty_tables` comes first, as a row that excludes nobody.
    """
    counts = {r.rule: (int(r.persons), int(r.person_years)) for r in exclusions.itertuples()}
    unknown = set(counts) - set(PERSON_RULES) - set(PERSON_YEAR_RULES)
    if unknown:
        raise ValueError(f"sample flow has rules without a description: {sorted(unknown)}")
    steps = [(f"empty_{name}", EMPTY_TABLE_NOTES[name], 0, 0) for name in empty_tables]
    steps += [(rule, text, *counts.get(rule, (0, 0)))
              for rule, text in {**PERSON_RULES, **PERSON_YEAR_RULES}.items()]
    steps += list(extra_steps)
    rows, persons, person_years = [], persons_in, person_years_in
    for number, (rule, text, p_out, py_out) in enumerate(steps, start=1):
        rows.append([number, rule, text, persons, person_years, p_out, py_out,
                     persons - p_out, person_years - py_out])
        persons, person_years = persons - p_out, person_years - py_out
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def find_related_persons(con: duckdb.DuckDBPyConnection) -> None:
    """`related_persons`: whose rows the pass over the registers keeps for run (sql/28)."""
    run_sql(con, "28_related_persons.sql")


def run(con: duckdb.DuckDBPyConnection, settings: Settings, *, empty_tables: tuple[str, ...] = ()) -> pd.DataFrame:
    """Build `refugees`, `person_year` and the sample flow (noting accepted `empty_tables`); return the flow.

    Reads the rows of the related persons that municipalities.read_registers kept (sql/29)."""
    run_sql(con, "29_related_rows.sql")
    run_sql(con, "30_refugees.sql")
    run_sql(con, "31_person_year.sql")
    run_sql(con, "33_person_year.sql")
    exclusions = query_sql(con, "32_sample_flow.sql")
    persons_in = con.execute("select count(*) from stg_personer").fetchall()[0][0]
    person_years_in = con.execute("select getvariable('harmonised_rows')").fetchall()[0][0]
    window = "alder between getvariable('min_age') and getvariable('max_age')"
    rows_outside_age = con.execute(f"select count(*) from person_year where not ({window})").fetchall()[0][0]
    persons_outside_age = con.execute(
        f"select count(*) from (select lopenr from person_year group by lopenr "
        f"having not bool_or({window}))").fetchall()[0][0]
    age_step = ("age_outside_window",
                f"analysis sample (figs 3.8-3.14, models): age outside {settings.min_age}-{settings.max_age}",
                persons_outside_age, rows_outside_age)
    persons_unsettled, rows_unsettled = con.execute(
        f"select count(distinct lopenr), count(*) from person_year where {window} and bosettingskommune is null"
    ).fetchall()[0]
    settlement_step = ("no_settlement_municipality",
                       "fixed-effect models (fig 3.16, kommunebidrag): not resident on 1 January after arrival",
                       persons_unsettled, rows_unsettled)
    flow = sample_flow(persons_in, person_years_in, exclusions, [age_step, settlement_step],
                       empty_tables=empty_tables)
    con.execute("drop table refugee_candidates; drop table person_year_candidates")  # memory for later stages
    panel_rows, panel_persons = con.execute("select count(*), count(distinct lopenr) from person_year").fetchall()[0]
    before_age = flow.set_index("rule").loc["no_income_record"]  # the panel, before the analysis windows
    if (before_age.person_years_out, before_age.persons_out) != (panel_rows, panel_persons):
        raise AssertionError(
            f"sample flow does not balance: flow says {before_age.persons_out} persons / "
            f"{before_age.person_years_out} person-years, panel has {panel_persons} / {panel_rows}")
    return flow


OUTCOME_COLUMNS = ("sysselsatt", "i_utdanning", "arbeid_utdanning")   # what sql/33_person_year.sql defines


def redefine_outcomes(person_year: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The panel's outcome step (sql/33_person_year.sql) again on an exported panel, under `settings`
    (the robustness variants' employment threshold): the same definition, no second code path.

    The panel comes back ordered by person and year. When `person_year` is already in that order (as
    exported), it is `person_year` itself with the new outcome columns: the other columns, and the row
    labels, are the very ones passed in.
    """
    con = duckdb.connect()
    try:
        set_study_variables(con, settings)
        con.register("panel_rows", person_year)
        con.execute("create temp view person_year_candidates as select * exclude (sysselsatt, i_utdanning, "
                    "arbeid_utdanning), i_utdanning = 1 as in_education, null::varchar as excluded_by "
                    "from panel_rows")
        run_sql(con, "33_person_year.sql")
        outcomes = con.sql(f"select lopenr, aar, {', '.join(OUTCOME_COLUMNS)} from person_year "
                           f"order by lopenr, aar").to_arrow_table()
        if _same_keys(person_year, outcomes):
            return person_year.assign(**{c: outcomes[c].to_numpy() for c in OUTCOME_COLUMNS})
        return con.execute("select * from person_year order by lopenr, aar").df()[list(PERSON_YEAR)]
    finally:
        con.close()


def _same_keys(person_year: pd.DataFrame, ordered: pa.Table) -> bool:
    """True when `person_year` has the (lopenr, aar) rows of `ordered`, in the same order."""
    if len(person_year) != ordered.num_rows:
        return False
    keys = pa.Table.from_pandas(person_year[["lopenr", "aar"]], preserve_index=False)
    try:
        return all(ordered[key].cast(keys[key].type).equals(keys[key]) for key in ("lopenr", "aar"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):   # keys of another type: not the same rows
        return False
