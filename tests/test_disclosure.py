"""Disclosure control: the 30-person rule, the explicit marker, and reading releasable tables back."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import disclosure

MARKER = "prikket"


def cells() -> pd.DataFrame:
    return pd.DataFrame({
        "kategori": ["asyl", "asyl", "familie", "familie"],
        "botid": [0, 1, 0, 1],
        "share_pct": [12.5, 50.0, 0.0, 3.333],
        "n_persons": [29, 30, 31, 0],
        "n_person_years": [29, 30, 31, 0],
    })


def test_cell_of_29_persons_is_suppressed_and_30_is_shown():
    out, n = disclosure.suppress(cells(), stat_columns=["share_pct"], min_persons=30, marker=MARKER)
    assert n == 2  # 29 persons and 0 persons
    assert out.loc[0, "share_pct"] == MARKER and out.loc[0, "n_persons"] == MARKER
    assert out.loc[0, "n_person_years"] == MARKER
    assert out.loc[1, "share_pct"] == 50.0 and out.loc[1, "n_persons"] == 30
    # a share of 0 from 31 persons is shown as 0, a suppressed one is never 0 or blank
    assert out.loc[2, "share_pct"] == 0.0
    assert out.loc[3, "share_pct"] == MARKER


def test_keys_untouched_and_input_not_modified():
    frame = cells()
    before = frame.copy()
    out, _ = disclosure.suppress(frame, stat_columns=["share_pct"], min_persons=30, marker=MARKER)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(out[["kategori", "botid"]], before[["kategori", "botid"]])


def test_threshold_is_configurable():
    _, n10 = disclosure.suppress(cells(), stat_columns=["share_pct"], min_persons=10, marker=MARKER)
    _, n31 = disclosure.suppress(cells(), stat_columns=["share_pct"], min_persons=31, marker=MARKER)
    _, n32 = disclosure.suppress(cells(), stat_columns=["share_pct"], min_persons=32, marker=MARKER)
    assert (n10, n31, n32) == (1, 3, 4)


def test_missing_columns_are_refused():
    with pytest.raises(KeyError, match="n_persons"):
        disclosure.suppress(cells().drop(columns="n_persons"), stat_columns=["share_pct"], min_persons=30, marker=MARKER)
    with pytest.raises(KeyError, match="andel"):
        disclosure.suppress(cells(), stat_columns=["andel"], min_persons=30, marker=MARKER)


def test_round_trip_through_csv_gives_nan_for_marker(tmp_path):
    out, _ = disclosure.suppress(cells(), stat_columns=["share_pct"], min_persons=30, marker=MARKER)
    path = tmp_path / "t.csv"
    out.to_csv(path, index=False)
    text = path.read_text()
    assert text.count(MARKER) == 2 * 3  # two cells x (share, persons, person-years)
    back = disclosure.to_numeric(pd.read_csv(path, dtype=str, keep_default_na=False),
                                 ["share_pct", "n_persons"], marker=MARKER)
    assert np.isnan(back.loc[0, "share_pct"]) and np.isnan(back.loc[3, "n_persons"])
    assert back.loc[1, "share_pct"] == 50.0 and back.loc[2, "n_persons"] == 31.0
    assert disclosure.is_suppressed(out["share_pct"], marker=MARKER).tolist() == [True, False, False, True]


# ------------------------------------------------------------ release-wide control (rounding, shares, margins)

def test_counts_round_to_the_base_and_shares_to_their_decimals_by_hand():
    assert disclosure.round_count([0, 2, 3, 32, 33, 1993, 1965], 5).tolist() == [0, 0, 5, 30, 35, 1995, 1965]
    assert disclosure.round_share([5.357, 52.5, 0.49, 99.5], 0).tolist() == [5.0, 53.0, 0.0, 100.0]
    assert disclosure.round_share([5.357, 52.94], 1).tolist() == [5.4, 52.9]
    policy = disclosure.Policy(count_base=5)
    assert policy.count_interval(30) == (28, 32) and policy.count_interval(1995) == (1993, 1997)
    assert disclosure.Policy(count_base=4).count_interval(32) == (30, 33)   # 30, 31, 32, 33 round to 32
    assert disclosure.Policy(count_base=1).count_interval(17) == (17, 17)


def test_release_judges_the_threshold_on_the_exact_count_then_rounds():
    policy = disclosure.Policy(count_base=5, share_decimals=0)
    frame = cells().assign(n_persons=[28, 32, 33, 0], n_person_years=[28, 32, 33, 0], share_pct=[12.5, 50.4, 0.6, 0])
    out, n = disclosure.release(frame, policy=policy, columns=disclosure.Columns(stats=("share_pct",),
                                                                                  shares=("share_pct",)))
    assert n == 2 and out.loc[0, "n_persons"] == MARKER          # 28 rounds to 30 but stays suppressed
    assert (out.loc[1, "n_persons"], out.loc[1, "share_pct"]) == (30, 50.0)
    assert (out.loc[2, "n_persons"], out.loc[2, "share_pct"]) == (35, 1.0)
    hidden, _ = disclosure.release(frame, policy=policy, columns=disclosure.Columns(stats=("share_pct",)),
                                   also_hide=np.array([False, False, True, False]))
    assert hidden.loc[2, "share_pct"] == MARKER and hidden.loc[2, "n_persons"] == MARKER


def test_a_split_with_one_hidden_cell_hides_its_smallest_shown_cell_too():
    # asyl botid 9: women 17 (small), men 40, third level 55 -> men hidden too; familie: nothing small
    frame = pd.DataFrame({
        "outcome": ["a"] * 6 + ["b"] * 6,
        "kategori": (["asyl"] * 3 + ["familie"] * 3) * 2,
        "botid": [9] * 12,
        "level": ["w", "m", "x"] * 4,
        "n_persons": [17, 40, 55, 31, 45, 60] * 2,
    })
    extra = disclosure.complementary_cells(frame, margins=[["kategori", "botid"]], cell=["kategori", "botid", "level"],
                                           min_persons=30)
    assert frame.loc[extra, ["outcome", "kategori", "level"]].values.tolist() == [["a", "asyl", "m"], ["b", "asyl", "m"]]
    # nested: within a sex, a single hidden partner cell hides the other; then the population has two
    nested = pd.DataFrame({"kategori": ["asyl"] * 4, "botid": [3] * 4, "kjonn": [1, 1, 2, 2],
                           "partner": [0, 1, 0, 1], "n_persons": [12, 35, 80, 90]})
    extra = disclosure.complementary_cells(nested, margins=[["kategori", "botid", "kjonn"], ["kategori", "botid"]],
                                           cell=["kategori", "botid", "kjonn", "partner"], min_persons=30)
    assert extra.tolist() == [False, True, False, False]


# ------------------------------------------------------------ the differencing attacks, each on a planted leak

def _write(directory, name, rows):
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(directory / f"{name}.csv", index=False)


def _by_botid(levels, counts, shares):
    """A by-botid table: asyl, botid 9, one outcome; one row per level with its count and share."""
    return [{"outcome": "arbeid_utdanning", "kategori": "asyl", "botid": 9, **level, "share_pct": share,
             "n_persons": n, "n_person_years": n} for level, n, share in zip(levels, counts, shares)]


def _attack(out, **policy):
    from pipeline.differencing import build, leaks

    return leaks(build(out, disclosure.Policy(**policy)))


def test_linked_splits_give_a_hidden_cell_back_unless_counts_are_rounded_and_margins_protected(tmp_path):
    out = tmp_path / "out"
    # 67 persons, 32 in work or education. Sex split: men 40 (20 yes) shown, women 27 (12 yes) hidden;
    # country split shows everything: syria 31 (13 yes), eritrea 36 (19 yes)
    sexes, countries = [{"kjonn": 1}, {"kjonn": 2}], [{"fodeland_gruppe": "syria"}, {"fodeland_gruppe": "eritrea"}]
    _write(out / "tables", "fig3_08", _by_botid(sexes, [40, MARKER], [50.0, MARKER]))
    _write(out / "tables", "fig3_09", _by_botid(countries, [31, 36], [41.935, 52.778]))
    found = {leak.label: leak.value for leak in _attack(out, count_base=1, share_decimals=3)}
    assert found["n_persons of fig3_08.csv (asyl, botid 9, 2)"] == 27                 # 31 + 36 - 40
    assert found["arbeid_utdanning count of fig3_08.csv (asyl, botid 9, 2)"] == 12    # 13 + 19 - 20
    # as the release writes them: counts rounded to 5, whole percent, and the split with one hidden
    # cell hides a second
    _write(out / "tables", "fig3_08", _by_botid(sexes, [MARKER, MARKER], [MARKER, MARKER]))
    _write(out / "tables", "fig3_09", _by_botid(countries, [30, 35], [42, 53]))
    assert _attack(out, count_base=5, share_decimals=0) == []


def test_totals_beside_their_parts_and_in_minus_out_and_alle_minus_categories(tmp_path):
    out = tmp_path / "out"
    tables = out / "tables"
    # fig 3.1 hides asyl 2019; table 3.1's asyl total gives it back when exact
    _write(tables, "fig3_01", [{"kategori": "asyl", "innvandringsaar": y, "n_persons": n}
                               for y, n in ((2017, 310), (2018, 120), (2019, MARKER))])
    _write(tables, "table3_1", [{"indicator": "personer", "population": "alle", "kategori": "asyl",
                                 "unit": "antall", "value": 459, "n_persons": 459}])
    # the sample flow hides step 2's exclusions but shows in and out
    _write(out, "sample_flow", [
        {"step": 1, "rule": "a", "persons_in": 2500, "person_years_in": 9000, "persons_excluded": 507,
         "person_years_excluded": 1000, "persons_out": 1993, "person_years_out": 8000},
        {"step": 2, "rule": "b", "persons_in": 1993, "person_years_in": 8000, "persons_excluded": MARKER,
         "person_years_excluded": 0, "persons_out": 1965, "person_years_out": 8000}])
    # kommunebidrag: overforing hidden in 0301, alle and the others shown
    _write(tables, "kommunebidrag", [{"gruppe": g, "kommnr_2020": "0301", "n_persons": n, "n_person_years": 5 * n}
                                     if n != MARKER else {"gruppe": g, "kommnr_2020": "0301", "n_persons": n,
                                                          "n_person_years": n}
                                     for g, n in (("asyl", 40), ("overforing", MARKER), ("familie", 33), ("alle", 76))])
    # fig 3.16: overforing botid 9 hidden, alle and asyl, familie shown
    _write(tables, "fig3_16_r2_decomposition", [
        {"sample": f"{g}_botid9", "gruppe": g, "botid": 9, "block": "botid", "n_persons": n, "n_person_years": n}
        for g, n in (("asyl", 200), ("overforing", MARKER), ("familie", 100), ("alle", 314))])
    found = {leak.label: leak.value for leak in _attack(out, count_base=1)}
    assert found["n_persons of fig3_01.csv (asyl, 2019)"] == 29
    assert found["persons_excluded of sample_flow.csv step 2 (b)"] == 28
    assert found["n_persons of kommunebidrag.csv (overforing, 0301)"] == 3
    assert found["n_persons of fig3_16_r2_decomposition.csv (overforing_botid9)"] == 14
    # the same tables as the release writes them: rounded to 5
    _write(tables, "fig3_01", [{"kategori": "asyl", "innvandringsaar": y, "n_persons": n}
                               for y, n in ((2017, 310), (2018, 120), (2019, MARKER))])
    _write(tables, "table3_1", [{"indicator": "personer", "population": "alle", "kategori": "asyl",
                                 "unit": "antall", "value": 460, "n_persons": 460}])
    _write(out, "sample_flow", [
        {"step": 1, "rule": "a", "persons_in": 2500, "person_years_in": 9000, "persons_excluded": 505,
         "person_years_excluded": 1000, "persons_out": 1995, "person_years_out": 8000},
        {"step": 2, "rule": "b", "persons_in": 1995, "person_years_in": 8000, "persons_excluded": MARKER,
         "person_years_excluded": 0, "persons_out": 1965, "person_years_out": 8000}])
    _write(tables, "kommunebidrag", [{"gruppe": g, "kommnr_2020": "0301", "n_persons": n, "n_person_years": n}
                                     for g, n in (("asyl", 40), ("overforing", MARKER), ("familie", 35),
                                                  ("alle", 75))])
    _write(tables, "fig3_16_r2_decomposition", [
        {"sample": f"{g}_botid9", "gruppe": g, "botid": 9, "block": "botid", "n_persons": n, "n_person_years": n}
        for g, n in (("asyl", 200), ("overforing", MARKER), ("familie", 100), ("alle", 315))])
    assert _attack(out, count_base=5) == []


def test_disclosure_check_fails_on_an_unrounded_count_a_precise_share_and_missing_municipality_rows(tmp_path):
    from pipeline.config import load_settings
    from pipeline.disclosure_check import run

    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    _write(settings.paths.tables, "fig3_02", [{"kategori": "asyl", "innvandringsaar": 2015, "kjonn": 1,
                                               "share_pct": 5.357, "n_persons": 56}])
    _write(settings.paths.tables, "kommunebidrag", [
        {"gruppe": "asyl", "kommnr_2020": k, "estimate": MARKER, "n_persons": MARKER, "n_person_years": MARKER}
        for k in ("0301", "3001")] + [{"gruppe": "alle", "kommnr_2020": "0301", "estimate": MARKER,
                                       "n_persons": MARKER, "n_person_years": MARKER}])
    problems = "\n".join(run(settings))
    assert "fig3_02.csv: column 'n_persons' has 1 count(s) not rounded to a multiple of 5" in problems
    assert "fig3_02.csv: column 'share_pct' has 1 share(s) with more than 0 decimal(s)" in problems
    assert "kommunebidrag.csv: groups ['alle'] lack rows" in problems
