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
    check_rerelease,
    comments_long,
    count_label,
    ledger_cells,
    release_table,
    unreleased_texts,
)
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.leakgate import scan_outputs
from culture.errors import ConfidentialityError, ConfigError, RereleaseRefused
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


def _ledger(tree, *, drop=(), by=("role_level",), th=None):
    org, resp = make_wave(tree)
    resp = resp[~resp["respondent"].isin(drop)]
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT,
                         by=by)
    rel = build_release(agg, thresholds=th or Thresholds())
    return rel, ledger_cells(rel, membership(resp)), frozenset(resp["respondent"])


def test_ledger_cells_hash_respondent_sets():
    rel, cells, people = _ledger(TREE)
    assert set(cells.columns) == {"cell_id", "n", "respondent_set_hash"}
    assert cells["cell_id"].is_unique
    row = cells.set_index("cell_id").loc["response_rates|CO|all|all|respondents"]
    assert row["n"] == 26
    assert (cells["n"] >= 5).all()
    _, again, _ = _ledger(TREE)
    pd.testing.assert_frame_equal(cells, again)  # deterministic
    assert not cells["respondent_set_hash"].str.contains("R0").any()


def test_rerelease_rules():
    rel, cells, people = _ledger(TREE)
    first = [Record(1, "2026-04-01T10:00", Thresholds(), cells, people)]
    check_rerelease(first, Thresholds(), cells, people)  # the same release again is fine

    # one person added: every cell containing them changes by one
    bigger = {**TREE, "TECH": ("CO", 10)}
    _, cells2, people2 = _ledger(bigger)
    with pytest.raises(RereleaseRefused) as err:
        check_rerelease(first, Thresholds(), cells2, people2)
    msg = str(err.value)
    assert "respondent set differs by 1 people (allowed: 0 or at least 5)" in msg
    assert "response_rates|CO|all|all|respondents" in msg and "response_rates|TECH|all|all|respondents" in msg
    assert "R0" not in msg

    # thresholds are frozen after the first release
    with pytest.raises(RereleaseRefused, match=r"thresholds are frozen .* changed: scores 5 -> 6"):
        check_rerelease(first, Thresholds(scores=6), cells, people)

    # a second demographic cut of the same wave could be subtracted from the first
    relabelled = cells.assign(cell_id=cells["cell_id"].str.replace("|role_level|", "|tenure|", regex=False))
    with pytest.raises(RereleaseRefused, match="second demographic"):
        check_rerelease(first, Thresholds(), relabelled, people)

    # five or more new people everywhere is a legitimate new release
    many = {**TREE, "TECH": ("CO", 14), "SALES": ("CO", 9), "OPS": ("CO", {"staff": 11, "lead": 10})}
    _, cells3, people3 = _ledger(many)
    check_rerelease(first, Thresholds(), cells3, people3)


def test_ledger_refuses_a_membership_that_does_not_match_the_release():
    org, resp = make_wave(TREE)
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT, by=("role_level",))
    rel = build_release(agg, thresholds=Thresholds())
    with pytest.raises(ConfigError, match="membership does not match the release"):
        ledger_cells(rel, membership(resp.iloc[1:]))
