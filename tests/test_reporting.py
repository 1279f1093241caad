"""The reporting kit shared by the experiment, cooperation and detect reports: one number format
(missing is "n/a", seeds give mean ± std), escaped HTML, whole pages, and the top alerts with
their reasons and true roles."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from finlab.reporting import (
    NA,
    account_truth,
    esc,
    fmt,
    note,
    page,
    section,
    table,
    top_alerts,
    write_page,
)


@pytest.mark.parametrize("value,digits,sign,expected", [
    (0.41234, 3, False, "0.412"),
    (2, 1, False, "2.0"),
    ({"mean": 0.5, "std": 0.0312}, 3, False, "0.500 ± 0.031"),
    (0.05, 3, True, "+0.050"),
    (-0.05, 2, True, "-0.05"),
    (None, 3, False, NA),
    (math.nan, 3, False, NA),
    ({"mean": None, "std": 0.1}, 3, False, NA),
    ("not a number", 3, False, NA),
    (True, 3, False, NA),
])
def test_one_number_format(value, digits, sign, expected):
    assert fmt(value, digits, sign=sign) == expected


def test_html_pieces_escape_what_they_are_given():
    evil = "<script>alert(1)</script>"
    assert esc(evil) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc(None) == ""
    html = section(evil, evil, note(evil)) + table([evil, "b"], ["<tr><td>1</td><td>2</td></tr>"])
    assert "<script>" not in html
    assert html.count("<th>") == 2 and "<tr><td>1</td><td>2</td></tr>" in html
    whole = page(evil, [html], intro="a & b")
    assert whole.startswith("<!DOCTYPE html>") and whole.rstrip().endswith("</html>")
    assert "<script>" not in whole and "<p>a &amp; b</p>" in whole
    assert "<style>" in whole and "http" not in whole  # nothing to fetch


def test_write_page_is_atomic(tmp_path, monkeypatch):
    target = write_page(tmp_path / "r.html", page("t", ["<p>x</p>"]))
    assert target.read_text("utf-8").count("<p>x</p>") == 1
    import os

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_page(tmp_path / "other.html", page("t", []))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_top_alerts_rank_explain_and_tell_the_truth(tiny_dataset):
    labels = tiny_dataset.labels
    truth = account_truth(labels)
    suspect = int(truth.index[0])
    ordinary = int(tiny_dataset.accounts.loc[
        ~tiny_dataset.accounts["account_id"].isin(truth.index), "account_id"].iloc[0])
    scores = pd.Series({suspect: 0.9, ordinary: 0.7, 12345: 0.1})
    explanations = pd.DataFrame({
        "id": [ordinary, suspect, suspect, suspect, suspect],
        "reason": ["r0", "first", "second", "third", "fourth"]})
    got = top_alerts(scores, explanations, truth, top=2)
    assert list(got["id"]) == [suspect, ordinary]
    assert list(got["score"]) == [0.9, 0.7]
    assert list(got["reasons"]) == ["first; second; third", "r0"]
    assert got["truth"].iloc[0] == truth.loc[suspect] and ":" in got["truth"].iloc[0]
    assert got["truth"].iloc[1] == "ordinary"
    assert "truth" not in top_alerts(scores, explanations, None, top=1).columns
