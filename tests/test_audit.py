"""The independent audit (culture.audit) finds planted breaches and shares no code with build_release.

Known truth: releases are tampered with here (a hidden cell put back, a wrong n),
so the exact breach and its size are known in advance.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import culture.boundary.audit
from culture.boundary import Release
from culture.boundary.audit import audit_release
from culture.errors import ConfidentialityError
from test_anonymity import audit_frame, release_of


def tampered(rel: Release, table: str, mask_fn, **values) -> Release:
    tables = {t: rel.table(t) for t in ("units", "scores", "items", "response_rates", "cuts", "comments")}
    df = tables[table]
    mask = mask_fn(df)
    assert mask.sum() >= 1
    for col, value in values.items():
        df.loc[mask, col] = value
    return Release(wave=rel.wave, instrument_id=rel.instrument_id, instrument_version=rel.instrument_version,
                   thresholds=rel.thresholds, demographic=rel.demographic, _tables=tables, notes=rel.notes)


def test_audit_passes_a_built_release_and_reports_what_it_checked():
    rel, org, resp = release_of({"CO": (None, 2), "SALES": ("CO", 4), "TECH": ("CO", 9)}, comments=True)
    result = audit_release(audit_frame(resp), org, rel)
    assert result.passed and result.breaches.empty
    assert result.cells_checked > 0
    assert result.summary().startswith("audit passed")
    result.require_pass()


def test_putting_back_a_complementary_cell_is_caught():
    # Company 13 = Sales 4 + Tech 9: showing Tech lets anyone compute Sales (4 people) by subtraction.
    rel, org, resp = release_of({"CO": (None, 0), "SALES": ("CO", 4), "TECH": ("CO", 9)})
    bad = tampered(rel, "response_rates", lambda d: d["unit_id"] == "TECH", status="released", n=9)
    result = audit_release(audit_frame(resp), org, bad)
    assert not result.passed
    found = result.breaches[result.breaches["measure"] == "respondents"]
    assert set(found["check"]) >= {"nested_pair", "remainder", "children", "linear"}
    assert set(found["size"]) == {4}
    with pytest.raises(ConfidentialityError, match="remainder: scores respondents unit CO"):
        result.require_pass()


def test_wrong_n_and_small_cut_complement_are_caught():
    rel, org, resp = release_of({"U": (None, {"manager": 2, "staff": 10})}, by=("role_level",))
    bad = tampered(rel, "cuts", lambda d: (d["unit_id"] == "U") & (d["kind"] == "respondents")
                   & (d["band"] == "staff"), status="released", n=11)
    result = audit_release(audit_frame(resp), org, bad)
    checks = dict(zip(result.breaches["check"], result.breaches["size"], strict=False))
    assert checks["n_mismatch"] == 10  # shown 11, the cell has 10 people
    assert checks["cut_complement"] == 2  # the two managers
    assert checks["nested_pair"] == 2


def test_exact_check_finds_a_difference_the_structural_checks_cannot_name():
    # The linked-table attack that rule 3 of culture.anonymity prevents (partial cuts). P = C1 + C2;
    # C1: 5 staff + 5 leads, C2: 7 staff + 1 lead + 2 missing. Shown: P (20), P.staff (12), C1 (10),
    # C1.staff (5), C1.lead (5), C2 (10). No shown cell is small, no nested pair or remainder is
    # small, but P - P.staff - C1 + C1.staff = the 3 non-staff people of C2.
    tree = {"P": (None, 0), "C1": ("P", {"staff": 5, "lead": 5}), "C2": ("P", {"staff": 7, "lead": 1, "X": 2})}
    rel, org, resp = release_of(tree, by=("role_level",))
    shown = {("P", "staff"): 12, ("C1", "staff"): 5, ("C1", "lead"): 5}
    resp_rows = lambda d: d["kind"] == "respondents"  # noqa: E731
    bad = tampered(rel, "cuts", resp_rows, status="suppressed", n=pd.NA)
    for (unit, band), n in shown.items():
        bad = tampered(bad, "cuts", lambda d, u=unit, b=band: resp_rows(d) & (d["unit_id"] == u)
                       & (d["band"] == b), status="released", n=n)
    for unit, n in {"P": 20, "C1": 10, "C2": 10}.items():
        bad = tampered(bad, "response_rates", lambda d, u=unit: d["unit_id"] == u, status="released", n=n)
    result = audit_release(audit_frame(resp), org, bad, exact=True)
    found = result.breaches[result.breaches["measure"] == "respondents"]
    assert set(found["check"]) == {"linear"}
    assert set(found["size"]) == {3}
    # without the exact check the structural checks see nothing
    assert audit_release(audit_frame(resp), org, bad, exact=False).breaches.query(
        "measure == 'respondents'").empty


def test_audit_shares_no_code_with_the_release_builder():
    tree = ast.parse(Path(culture.boundary.audit.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    # the error classes only: no helper of aggregate/suppression/release
    assert {m for m in imported if m.startswith("culture")} <= {"culture.errors", "culture.results"}


def test_breaches_never_name_respondents():
    rel, org, resp = release_of({"CO": (None, 0), "SALES": ("CO", 4), "TECH": ("CO", 9)})
    bad = tampered(rel, "response_rates", lambda d: d["unit_id"] == "TECH", status="released", n=9)
    text = audit_release(audit_frame(resp), org, bad).breaches.to_string()
    assert not any(r in text for r in resp["respondent"])
    assert isinstance(audit_release(audit_frame(resp), org, bad).table, pd.DataFrame)
