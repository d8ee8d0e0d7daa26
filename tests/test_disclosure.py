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
