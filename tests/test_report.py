"""The experiment's HTML report: self-contained (embedded PNGs, no scripts), honest about missing
values ("n/a"), escaped, and written atomically."""

from __future__ import annotations

import base64
import os
import re

import numpy as np
import pandas as pd
import pytest

from finlab.evaluate import report
from finlab.evaluate.report import write_report

N_IMAGES = 5  # PR curves, recall vs budget, per typology, look-alikes, days to detection
EVIL = "<script>alert(1)</script>"


def _level(ap, days, *, typologies=None, decoys=None):
    return {
        "average_precision": ap, "roc_auc": 0.81, "f1": 0.33, "threshold": 0.5,
        "precision_at_budget": 0.2, "recall_at_budget": 0.4,
        "by_typology": typologies or {"ocse_payments": 0.5, "fan_in": 0.25},
        "decoy_false_positive_rate": decoys or {"payroll": 0.01, "marketplace": 0.03},
        "median_days_to_detection": days, "positives": 40, "negatives": 960,
    }


def _ms(mean, std):
    return {"mean": mean, "std": std}


@pytest.fixture
def inputs():
    metrics = {
        "experiment": "unit-test",
        "split": {"kind": "temporal", "train": ["2024-01-01", "2024-06-30"],
                  "validation": ["2024-07-01", "2024-08-31"],
                  "test": ["2024-09-01", "2024-12-31"]},
        "budgets": {"alerts_per_month": 25, "test_alerts": 100},
        "seeds": [0, 1, 2],
        "data_notes": {
            "source_format": "amlsim", "layout": "old", "features_total": 185,
            "synthesised_on_import": ["accounts.opened_at"], "dropped_on_import": [EVIL],
            "missing": [{"field": "transactions.reference", "why": "no payment references",
                         "features": [f"cover_word_count_{w}d" for w in (1, 7, 30, 90)]}],
            "features_left_out": [f"cover_word_count_{w}d" for w in (1, 7, 30, 90)],
        },
        "detectors": {
            "rules": {"account": _level(0.3, 12.0), "transaction": _level(0.55, None),
                      "case": {**_level(0.5, 10.0), "recall_at_budget": 0.6},
                      "payment": {"f1": 0.45, "recall_at_budget": 0.7, "intervals": {
                          "average_precision": [0.5, 0.6], "f1": [0.4, 0.5],
                          "recall_at_budget": [0.6, 0.8]}}},
            # several seeds: every float as mean and std
            "gradient_boosting": {
                "account": {
                    **_level(_ms(0.41, 0.03), _ms(8.5, 1.5),
                             typologies={"ocse_payments": _ms(0.7, 0.05),
                                         "cycle": _ms(0.2, 0.1)},
                             decoys={"payroll": _ms(0.02, 0.01)}),
                    "roc_auc": _ms(0.9, 0.01), "f1": _ms(0.45, 0.02),
                },
                "transaction": {"average_precision": _ms(0.62, 0.04)}, "case": None},
            # no case level, never detected anything in time
            "isolation_forest": {"account": _level(0.05, None), "transaction": None,
                                 "case": None},
        },
    }
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.04).astype(int)
    curves = {name: {"y": y, "score": rng.random(1000) + strength * y}
              for name, strength in (("rules", 0.5), ("gradient_boosting", 1.0),
                                     ("isolation_forest", 0.1))}
    alerts = pd.DataFrame({
        "detector": ["rules", "rules", "gradient_boosting", "isolation_forest"],
        "id": [7, 3, 7, 12],
        "score": [0.9, 0.95, 0.99, 0.5],
        "truth": ["ocse_payments:sender", "ordinary", "ocse_payments:sender", "ordinary"],
        "reasons": ["fan-in from 12 senders", EVIL, "amount & timing", "rare merchant"],
    })
    return metrics, curves, alerts


def _row(page: str, name: str) -> str:
    match = re.search(rf'<tr><th scope="row">{name}</th>(.*?)</tr>', page)
    assert match, f"no table row for {name}"
    return match.group(1)


def test_report_is_self_contained_and_complete(inputs, tmp_path):
    import matplotlib.pyplot as plt

    out = write_report(tmp_path / "report.html", *inputs, title="A & B")
    assert out == tmp_path / "report.html"
    assert out.is_file()
    page = out.read_text("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp files left
    assert plt.get_fignums() == []  # every figure closed
    assert out.stat().st_size < 2_000_000

    for name in ("rules", "gradient_boosting", "isolation_forest"):
        assert name in page
    assert "<title>A &amp; B</title>" in page

    # missing values are shown as such, never invented
    iso = _row(page, "isolation_forest")
    # transaction level, the two payment-level columns, median days and case-level recall
    assert iso.count("n/a") == 5
    assert "n/a" in _row(page, "gradient_boosting")  # case level is None
    assert "n/a" not in _row(page, "rules")
    assert "0.600" in _row(page, "rules")  # case-level recall at budget
    assert "Left out" in page and "isolation_forest" in page.split("Left out", 1)[1][:200]

    # several seeds: mean ± std, and the best value per column in bold
    gb = _row(page, "gradient_boosting")
    assert "0.410 ± 0.030" in gb
    assert "<b>0.410 ± 0.030</b>" in gb  # best average precision
    assert "<b>8.5 ± 1.5</b>" in gb  # fewest days to detection
    assert "<b>0.620 ± 0.040</b>" in gb  # best transaction-level average precision
    assert "0.550" in _row(page, "rules")
    # payment-level intervals beside the payment columns (transaction AP ranks the same payments)
    for text in ("0.550 [0.500, 0.600]", "0.450 [0.400, 0.500]", "0.700 [0.600, 0.800]"):
        assert text in _row(page, "rules"), text
    assert "<b>" not in _row(page, "isolation_forest")
    assert "<b>0.200</b>" not in page  # precision at budget ties everywhere: nothing to bold
    assert "<b>0.600</b>" not in page  # the only case-level value: nothing to compare

    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == N_IMAGES
    assert page.count("data:image/png;base64,") == N_IMAGES
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")

    # no external resources and nothing to run
    assert "<script" not in page
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<h2>") == 9

    # data notes: the missing field with its features, counted and named
    notes = page.split("2. Data notes", 1)[1].split("<h2>", 1)[0]
    assert "amlsim (old layout)" in notes and "4 of 185" in notes
    assert "transactions.reference" in notes
    assert "4: cover_word_count_1d, cover_word_count_7d, cover_word_count_30d, " \
        "cover_word_count_90d" in notes


def test_report_without_any_account_level(inputs, tmp_path):
    metrics, curves, alerts = inputs
    metrics["detectors"]["isolation_forest"]["account"] = None
    page = write_report(tmp_path / "r.html", metrics, curves, alerts).read_text("utf-8")
    assert _row(page, "isolation_forest").count("n/a") == 10  # every column
    assert "No account-level results for: isolation_forest." in page
    assert page.count("data:image/png;base64,") == N_IMAGES


def test_report_with_nothing_to_plot(tmp_path):
    metrics = {"experiment": "empty", "split": {}, "budgets": {}, "seeds": [0],
               "detectors": {"rules": {"account": None, "transaction": None, "case": None}}}
    page = write_report(tmp_path / "r.html", metrics, {}, None).read_text("utf-8")
    assert "data:image/png;base64," not in page
    assert "No alerts were given." in page
    assert "No data notes were recorded" in page
    assert "rules" in page


def test_failed_write_leaves_no_partial_report(inputs, tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path / "report.html", *inputs)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_report(inputs, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("previous", "utf-8")

    def broken(src, dst):
        assert os.path.getsize(src) > 0  # the new page was complete beside the target
        raise OSError("rename failed")

    monkeypatch.setattr(report.os, "replace", broken)
    with pytest.raises(OSError, match="rename failed"):
        write_report(target, *inputs)
    assert target.read_text("utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
