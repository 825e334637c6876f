"""Releases of a wave through the workspace: reuse, re-organisation, supersede, late
responses, withdrawal, cross-wave quantities, bundle integrity.

Small organisations are written as the files a user brings (org chart CSV and a plain
CSV export of the mini instrument in tests/fixtures/exports/) and go through the same
path as ``culture``: ingest, :func:`culture.pipeline.release_wave`, the ledger, the
independent audit over every release of the wave.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from culture import pipeline
from culture.boundary.audit import audit_cross_wave
from culture.boundary.bundle import Bundle
from culture.errors import ConfidentialityError
from culture.measure.instrument import load_instrument
from culture.pipeline.packs import bundle_key
from culture.store import Workspace
from culture.store.pseudonym import KEY_ENV

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "exports"
W1, W2 = "2026Q1", "2026Q2"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def mini():
    return load_instrument(FIXTURES / "mini-instrument.yaml")


def org_csv(path, tree):
    rows = ["unit_id,parent_id,name"] + [f"{u},{p or ''},Unit {u}" for u, (p, _) in tree.items()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def people(tree, *, start=0, prefix="E"):
    """One row per person: respondent id and unit, in tree order."""
    out, k = [], start
    for unit, (_, n) in tree.items():
        for _ in range(n):
            out.append((f"{prefix}{k:05d}", unit))
            k += 1
    return out


def export_csv(path, who, *, seed=0, answers=None):
    """A plain CSV export of the mini instrument (headers are the instrument's ids)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (emp, unit) in enumerate(who):
        vals = rng.integers(1, 6, 4)  # drawn for everyone, so a correction changes one row
        vals = answers.get(emp, vals) if answers else vals
        rows.append({"response_id": f"R-{emp}", "respondent": emp, "unit_id": unit,
                     "tenure": "T2", "role_level": "lead" if i % 4 == 0 else "staff",
                     "TR1": vals[0], "TR2": vals[1], "QC1": vals[2], "QC2": vals[3],
                     "COMMENTS": f"note {emp} about the line" if i % 2 else ""})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def workspace(tmp_path, mini, tree, wave=W1, *, seed=0):
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_org(org_csv(tmp_path / f"org-{wave}.csv", tree), wave=wave)
    who = people(tree)
    ws.ingest_responses(export_csv(tmp_path / f"export-{wave}.csv", who, seed=seed), mini, wave=wave)
    return ws, who


def publish(ws, mini, wave=W1):
    data = pipeline.load_wave(ws, wave, mini)
    return pipeline.release_wave(ws, data, mini, policy=pipeline.wave_policy(ws, wave, mini))


def shown(released, unit, measure="trust"):
    s = released.release.table("scores").set_index(["unit_id", "measure"])
    return s.loc[(unit, measure), "status"] == "released"


TREE = {"CO": (None, 0), "S": ("CO", 0), "T2": ("S", 12), "T3": ("S", 1), "T4": ("S", 9)}


def test_an_unchanged_wave_is_released_once_and_read_back(tmp_path, mini):
    ws, _ = workspace(tmp_path, mini, TREE)
    first = publish(ws, mini)
    again = publish(ws, mini)
    assert first.release_id == again.release_id and again.reused and again.audit is None
    assert len(ws.releases(W1)) == 1  # asking for a read is not a new release
    pd.testing.assert_frame_equal(first.release.table("scores"), again.release.table("scores"))
    assert pipeline.audit_wave(ws, W1, mini).passed


def test_a_second_org_chart_for_a_released_wave_cannot_expose_one_person(tmp_path, mini):
    """Finding 1: after a re-cut, G = T2 + T3 would show 13 people beside the 12 of T2."""
    ws, _ = workspace(tmp_path, mini, TREE)
    first = publish(ws, mini)
    assert shown(first, "T2")
    recut = {"CO": (None, 0), "S": ("CO", 0), "G": ("S", 0), "T2": ("G", 12), "T3": ("G", 1),
             "T4": ("S", 9)}
    ws.ingest_org(org_csv(tmp_path / "org-recut.csv", recut), wave=W1)
    second = publish(ws, mini)
    assert second.release_id != first.release_id and not second.reused
    assert not shown(second, "G")  # G - T2 would be the one person in T3
    assert pipeline.audit_wave(ws, W1, mini).passed  # every release of the wave, together


def test_a_superseded_answer_is_not_recovered_from_the_two_releases(tmp_path, mini):
    """Finding 2: same cell, same n, same people, one person's answers changed."""
    tree = {"CO": (None, 0), "A": ("CO", 7), "B": ("CO", 11)}
    ws, who = workspace(tmp_path, mini, tree)
    first = publish(ws, mini)
    assert shown(first, "A")
    changed = {who[0][0]: [1, 1, 1, 1]}  # someone in A corrects every answer
    ws.ingest_responses(export_csv(tmp_path / "corrected.csv", who, answers=changed), mini,
                        wave=W1, supersede=True)
    second = publish(ws, mini)
    assert not shown(second, "A") and not shown(second, "CO")  # both hold the change
    assert shown(second, "B")
    assert pipeline.audit_wave(ws, W1, mini).passed


def test_a_late_response_never_blocks_a_later_report(tmp_path, mini):
    """Finding 10: a late response into a released wave made every later report fail."""
    ws, who = workspace(tmp_path, mini, TREE)
    publish(ws, mini)
    late = who + [("E99999", "T4")]
    ws.ingest_responses(export_csv(tmp_path / "late.csv", late), mini, wave=W1)
    ws.ingest_org(org_csv(tmp_path / "org-w2.csv", TREE), wave=W2)
    ws.ingest_responses(export_csv(tmp_path / "w2.csv", who, seed=5), mini, wave=W2)
    released = pipeline.release_waves(ws, mini, W2)
    assert set(released) == {W1, W2}
    assert pipeline.audit_wave(ws, W1, mini).passed


def test_a_refused_rerelease_keeps_the_published_one_and_says_how_to_proceed(tmp_path, mini,
                                                                             monkeypatch):
    """If the audit over the union refuses a re-release, the published release stays in
    force, the result names the wave and the way out, and nothing is recorded."""
    ws, who = workspace(tmp_path, mini, TREE)
    first = publish(ws, mini)
    import culture.pipeline.waves as waves

    monkeypatch.setattr(waves.Ledger, "risky",  # a protection gap the audit must catch
                        lambda *a, **k: pd.DataFrame(columns=["measure", "unit_id", "demographic",
                                                              "band", "people", "spread_only"]))
    ws.ingest_responses(export_csv(tmp_path / "late.csv", who + [("E99999", "T4")]), mini, wave=W1)
    result = publish(ws, mini)
    assert result.reused and result.release_id == first.release_id
    assert "2026Q1: a new release was refused" in result.notes[0]
    assert "culture withdraw --wave 2026Q1" in result.notes[0]
    assert len(ws.releases(W1)) == 1


def test_a_withdrawn_wave_is_imported_and_released_afresh(tmp_path, mini):
    """Finding 10: a wave can be withdrawn and released again without a new workspace;
    the new release is still checked against what was published."""
    ws, who = workspace(tmp_path, mini, TREE)
    publish(ws, mini)
    assert ws.withdraw(W1, reason="wrong export imported") == len(who)
    other = people(TREE, start=500, prefix="F")  # the right file: other people entirely
    ws.ingest_responses(export_csv(tmp_path / "right.csv", other, seed=9), mini, wave=W1)
    second = publish(ws, mini)
    assert len(ws.releases(W1)) == 2 and not second.reused
    assert pipeline.audit_wave(ws, W1, mini).passed


def test_paired_quantities_need_k_joiners_or_none(tmp_path, mini):
    """Finding 4: n_now x mean_now - n_before x mean_before - paired_n x paired_diff is the
    score of the one person who joined; paired statistics are then not used."""
    tree = {"CO": (None, 0), "A": ("CO", 34), "B": ("CO", 30)}
    ws, who = workspace(tmp_path, mini, tree)
    ws.ingest_org(org_csv(tmp_path / "org-w2.csv", tree), wave=W2)
    later = who + [("N00001", "A")]  # one joiner in A, B unchanged
    ws.ingest_responses(export_csv(tmp_path / "w2.csv", later, seed=3), mini, wave=W2)
    released = pipeline.release_waves(ws, mini, W2)
    from culture.analysis.wave import trend_report

    changes = trend_report(released, mini).tables["changes"].set_index(["unit_id", "measure"])
    assert changes.loc[("A", "trust"), "n_now"] - changes.loc[("A", "trust"), "n_before"] == 1
    assert np.isnan(changes.loc[("A", "trust"), "paired_n"])  # one mover: not combined
    assert changes.loc[("B", "trust"), "paired_n"] == 30  # nobody moved: the paired test stays
    assert audit_cross_wave(changes.reset_index(), k=5).passed
    planted = changes.reset_index().assign(paired_n=lambda d: d["n_before"])
    assert not audit_cross_wave(planted, k=5).passed  # the audit sees a planted leak


def test_a_bundle_edited_with_its_manifest_or_given_an_extra_table_is_refused(tmp_path, mini):
    """Finding 11: the manifest is signed with a key kept outside the bundle."""
    ws, _ = workspace(tmp_path, mini, {"CO": (None, 0), "A": ("CO", 14), "B": ("CO", 16)})
    bundle, _ = pipeline.compute_bundle(ws, mini, W1, tmp_path / "bundle")
    key = bundle_key(ws)
    Bundle.load(tmp_path / "bundle", key=key)  # as written: fine
    table = tmp_path / "bundle" / "tables" / "findings.parquet"
    frame = pd.read_parquet(table)
    frame.to_parquet(table)  # an edit ...
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    from culture.files import sha256_file

    manifest["files"]["tables/findings.parquet"] = sha256_file(table)  # ... with its hash
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfidentialityError, match="not signed by this workspace"):
        Bundle.load(tmp_path / "bundle", key=key)
    bundle.save(tmp_path / "again", key=key)
    (tmp_path / "again" / "tables" / "extra.parquet").write_bytes(table.read_bytes())
    with pytest.raises(ConfidentialityError, match="files the manifest does not list"):
        Bundle.load(tmp_path / "again")  # refused even without the key


def test_an_organisation_whose_every_team_is_withheld_still_builds_a_pack(tmp_path, mini):
    """Finding 10: all leaves withheld made culture report exit 2 (linkage specification)."""
    tree = {"CO": (None, 0), "S1": ("CO", 0), "T1": ("S1", 3), "T2": ("S1", 4),
            "S2": ("CO", 0), "T3": ("S2", 3), "T4": ("S2", 4)}
    ws, _ = workspace(tmp_path, mini, tree)
    result = pipeline.run_report(ws, mini, "latest", reports_dir=tmp_path / "reports", workers=2,
                                 unit_level=0)
    assert result.index.exists()
    assert not any(shown(r, t) for r in [publish(ws, mini)] for t in ("T1", "T2", "T3", "T4"))
