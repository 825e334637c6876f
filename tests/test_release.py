"""The Release boundary object: invariants, files, display, the CLI table and the release ledger.

Known truths: bundles and ledgers are built here, then altered in known ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from culture.boundary import (
    SUPPRESSED_LABEL,
    Release,
    Thresholds,
    build_release,
    comments_long,
    count_label,
    release_table,
    unreleased_texts,
)
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.leakgate import scan_outputs
from culture.errors import ConfidentialityError, ConfigError
from test_anonymity import SMALL_INSTRUMENT, make_wave, release_of, score_inline

TREE = {"CO": (None, 2), "SALES": ("CO", 4), "TECH": ("CO", 9), "OPS": ("CO", {"staff": 6, "lead": 5})}


@dataclass(frozen=True)
class Record:  # the shape of the store's ReleaseRecord
    release_id: int
    created: str
    thresholds: Thresholds
    cells: pd.DataFrame
    respondents: frozenset


def membership(resp: pd.DataFrame) -> pd.DataFrame:
    scored = score_inline(resp)
    return pd.concat([resp[["respondent", "unit_id", "role_level"]], scored.scores.notna(),
                      scored.keyed.notna()], axis=1)


def test_release_has_no_respondent_ids_and_only_counts_at_or_above_k():
    rel, _, resp = release_of(TREE, by=("role_level",), comments=True)
    for name in ("units", "scores", "items", "response_rates", "cuts", "comments"):
        df = rel.table(name)
        assert "respondent" not in df.columns
        assert not df.astype(str).isin(list(resp["respondent"])).any().any()
        if "n" in df.columns:
            shown = df.loc[df["status"] == "released", "n"]
            assert (shown >= 5).all() and df.loc[df["status"] == "suppressed", "n"].isna().all()
    assert set(rel.units["status"]) == {"released", "suppressed"}
    assert "units are not reported" in rel.notes[-1]
    assert rel.summary().startswith("Release of wave 2026Q1")


def test_hand_made_release_with_a_small_count_is_refused():
    rel, *_ = release_of(TREE)
    tables = {t: rel.table(t) for t in ("units", "scores", "items", "response_rates", "cuts", "comments")}
    rates = tables["response_rates"]
    rates.loc[rates["unit_id"] == "SALES", ["status", "n"]] = ["released", 4]
    with pytest.raises(ConfidentialityError, match="table response_rates: 1 released row"):
        Release(wave="2026Q1", instrument_id="mini", instrument_version="1", thresholds=Thresholds(),
                demographic=None, _tables=tables)
    tables["response_rates"] = rel.table("response_rates").assign(respondent="R1")
    with pytest.raises(ConfidentialityError, match="identifying column"):
        Release(wave="2026Q1", instrument_id="mini", instrument_version="1", thresholds=Thresholds(),
                demographic=None, _tables=tables)


def test_tables_are_copies():
    rel, *_ = release_of(TREE)
    scores = rel.scores
    scores["mean"] = 99.0
    assert not (rel.scores["mean"] == 99.0).any()


def test_save_and_load_round_trip_and_detect_tampering(tmp_path):
    rel, *_ = release_of(TREE, by=("role_level",), comments=True)
    manifest = rel.save(tmp_path / "bundle")
    doc = json.loads(manifest.read_text())
    assert doc["thresholds"]["scores"] == 5 and doc["demographic"] == "role_level"
    assert str(tmp_path) not in manifest.read_text()  # no local paths in the manifest
    back = Release.load(tmp_path / "bundle")
    for name in ("units", "scores", "items", "response_rates", "cuts", "comments"):
        pd.testing.assert_frame_equal(back.table(name), rel.table(name), check_dtype=False)
    assert back.thresholds == rel.thresholds and back.wave == rel.wave
    scores = pd.read_parquet(tmp_path / "bundle" / "scores.parquet")
    scores.loc[0, "mean"] = 1.0
    scores.to_parquet(tmp_path / "bundle" / "scores.parquet", index=False)
    with pytest.raises(ConfidentialityError, match="SHA-256 differs"):
        Release.load(tmp_path / "bundle")
    with pytest.raises(ConfigError, match="no release manifest"):
        Release.load(tmp_path / "empty")


def test_saved_bundle_passes_the_leak_gate(tmp_path):
    org, resp = make_wave(TREE)
    long = comments_long(resp, ["C1"])
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT)
    rel = build_release(agg, thresholds=Thresholds(), comments=long)
    rel.save(tmp_path / "out")
    rel.display_table("scores").to_csv(tmp_path / "out" / "scores.csv", index=False)
    hidden = unreleased_texts(long, rel)
    assert len(hidden) == len(long) - len(rel.comments.drop_duplicates("text"))
    report = scan_outputs(tmp_path / "out", pseudonyms=resp["respondent"], unreleased_texts=hidden, k=5)
    assert report.passed, report.findings


def test_display_table_labels_withheld_cells_and_marks_counts():
    rel, *_ = release_of(TREE)
    shown = rel.display_table("response_rates").set_index("unit_id")
    assert shown.loc["SALES", "n"] == SUPPRESSED_LABEL == shown.loc["SALES", "response_rate"]
    assert shown.loc["CO", "n"] == count_label(26) == "n = 26"
    assert "status" not in shown.columns


def test_release_table_for_the_cli():
    rel, *_ = release_of(TREE, by=("role_level",))
    table = release_table(rel)
    assert list(table.columns) == ["unit_id", "unit", "level", "measure", "n", "mean", "ci_low", "ci_high",
                                   "pct_favourable"]
    assert set(table["measure"]) == {"lead", "speak"}
    assert (table.loc[table["unit_id"] == "SALES", "mean"] == SUPPRESSED_LABEL).all()
    cut = release_table(rel, by="role_level")
    assert "band" in cut.columns and set(cut["measure"]) == {"respondents", "lead", "speak"}
    with pytest.raises(ConfigError, match="cut by role_level"):
        release_table(rel, by="tenure")
    assert release_table(rel, level=3).empty


