"""Leak gate: planted leaks in every output format are found; a clean folder passes.

Known truth: each test plants exactly the leaks it expects, in a file written here.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from culture.boundary.leakgate import (
    html_escape,
    neutralise_formula,
    neutralise_frame,
    scan_outputs,
)
from culture.errors import ConfidentialityError

PSEUDO = "a3f9c2d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2"
SECRET = "My manager shouts at the night shift every week"


def scan(folder, **kw):
    return scan_outputs(folder, pseudonyms=kw.get("pseudonyms", [PSEUDO, "E000123"]),
                        unreleased_texts=kw.get("texts", [SECRET, "ok"]), k=kw.get("k", 5))


def kinds(report) -> list[str]:
    return sorted(report.findings["kind"])


def test_clean_outputs_pass(tmp_path):
    (tmp_path / "index.html").write_text("<p>Quality culture, Sales (n = 12): 3.84</p>", encoding="utf-8")
    pd.DataFrame({"unit": ["Sales"], "n": [12], "mean": [3.8]}).to_csv(tmp_path / "release.csv", index=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"wave": "2026Q1", "cells": [{"n": 7}]}))
    report = scan(tmp_path)
    assert report.passed, report.findings
    assert report.files_scanned == 3
    report.require_clean()


def test_html_leaks_are_found_with_file_and_line(tmp_path):
    (tmp_path / "brief.html").write_text(
        "<h1>Team brief</h1>\n"
        f"<p data-id='{PSEUDO}'>hello</p>\n"
        "<p>Logged from /home/analyst/culture/ws.duckdb</p>\n"
        "<p>Contact jo&#64;example.com</p>\n"  # entity-encoded @ still found
        "<p>Warehouse (n = 3)</p>\n"
        "<blockquote>my MANAGER   shouts at the night shift every week!</blockquote>\n",
        encoding="utf-8")
    report = scan(tmp_path)
    assert kinds(report) == ["email", "local_path", "pseudonym", "small_count", "unreleased_text"]
    lines = dict(zip(report.findings["kind"], report.findings["location"], strict=True))
    assert lines == {"pseudonym": "line 2", "local_path": "line 3", "email": "line 4", "small_count": "line 5",
                     "unreleased_text": "line 6"}
    # findings never repeat what was found
    assert not report.findings.apply(lambda r: PSEUDO in " ".join(r) or "example.com" in " ".join(r), axis=1).any()


def test_csv_count_column_and_text_cells(tmp_path):
    pd.DataFrame({"unit": ["A", "B", "C"], "n": [12, 4, 0], "note": ["fine", "E000123", r"C:\Users\x"]}) \
        .to_csv(tmp_path / "out.csv", index=False)
    report = scan(tmp_path)
    f = report.findings
    assert sorted(zip(f["kind"], f["location"], strict=True)) == [
        ("local_path", "row 4, column note"), ("pseudonym", "row 3, column note"),
        ("small_count", "row 3, column n"), ("small_count", "row 4, column n")]


def test_xlsx_and_json_are_scanned(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "scores"
    ws.append(["unit", "n", "comment"])
    ws.append(["A", 3, "fine"])
    ws.append(["B", 9, SECRET])
    wb.save(tmp_path / "release.xlsx")
    (tmp_path / "m.json").write_text(json.dumps({"units": [{"id": "A", "n": 2}, {"path": "/tmp/run/x"}]}))
    report = scan(tmp_path)
    f = report.findings.sort_values(["file", "location"])
    assert list(zip(f["file"], f["kind"], strict=True)) == [
        ("m.json", "small_count"), ("m.json", "local_path"), ("release.xlsx", "small_count"),
        ("release.xlsx", "unreleased_text")]
    assert "$.units[0].n" in set(f["location"])


def test_short_texts_are_not_matched_and_k_is_respected(tmp_path):
    (tmp_path / "a.txt").write_text("ok, n = 6\n", encoding="utf-8")
    assert scan(tmp_path).passed  # 'ok' is shorter than 8 characters; 6 >= 5
    assert kinds(scan(tmp_path, k=10)) == ["small_count"]


def test_require_clean_raises_and_missing_folder_is_an_error(tmp_path):
    (tmp_path / "x.txt").write_text(f"id {PSEUDO}", encoding="utf-8")
    with pytest.raises(ConfidentialityError, match=r"x.txt line 1: pseudonym"):
        scan(tmp_path).require_clean()
    with pytest.raises(ConfidentialityError, match="output folder not found"):
        scan(tmp_path / "nope")


def test_neutralise_formula_and_round_trip_through_xlsx(tmp_path):
    # OWASP "CSV Injection": cells starting with = + - @ tab or CR are read as formulas
    for raw in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x"]:
        assert neutralise_formula(raw) == "'" + raw
    assert neutralise_formula("Sales") == "Sales" and neutralise_formula(-2.5) == -2.5
    frame = neutralise_frame(pd.DataFrame({"unit": ["=HYPERLINK(\"http://x\")", "ok"], "n": [5, 6]}))
    frame.to_excel(tmp_path / "t.xlsx", index=False)
    cell = load_workbook(tmp_path / "t.xlsx").active["A2"]
    assert cell.data_type == "s" and cell.value.startswith("'=")


def test_html_escape():
    assert html_escape("<script>alert('x')</script> & \"q\"") == \
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
    assert html_escape(None) == "" and html_escape(float("nan")) == "" and html_escape(3) == "3"
