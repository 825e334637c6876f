"""Exports for analysts: numbers as numbers, the withheld state in its own column, unit paths.

``culture scores --format csv|xlsx|json`` and the pack's ``release.csv`` / ``release.xlsx``
(:func:`culture.report.exports.write_exports`) on the small synthetic organisation.
Expected unit paths are computed here from the stored org chart, not by
``culture.boundary.release.unit_paths``; withheld rows are those the release marks
``suppressed``. Formulas are planted in unit names of a hand-made release.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from culture.boundary import SUPPRESSED_LABEL, Release
from culture.boundary.leakgate import scan_outputs
from culture.cli import main
from culture.errors import EXIT_OK
from culture.report.exports import write_exports, write_xlsx

NUMBERS = ("mean", "ci_low", "ci_high", "pct_favourable")
SHEETS = ["scores", "items", "response_rates", "cuts"]


def org_paths(org: pd.DataFrame) -> dict[str, str]:
    """Each unit's path below the root, from the org chart (the root keeps its name)."""
    name = dict(zip(org["unit_id"], org["name"], strict=True))
    parent = {u: p for u, p in zip(org["unit_id"], org["parent_id"], strict=True)
              if isinstance(p, str) and p}
    out = {}
    for unit in name:
        chain, u = [], unit
        while u in parent:
            chain.append(name[u])
            u = parent[u]
        out[unit] = " › ".join(reversed(chain)) or name[unit]
    return out


@pytest.fixture()
def ws_args(small_workspace):
    ws, _ = small_workspace
    return ["--workspace", str(ws.root)]


@pytest.fixture(scope="module")
def latest(small_workspace):
    ws, _ = small_workspace
    wave = ws.waves()[-1]
    return wave, org_paths(ws.org(wave))


def check_analyst_rows(rows: list[dict], paths: dict[str, str]) -> None:
    """Every row: status released/withheld, n a whole number >= 5 or empty when withheld,
    statistics numbers (or empty), the unit's full path beside its id."""
    assert rows
    statuses = {r["status"] for r in rows}
    assert statuses == {"released", "withheld"}, statuses
    for r in rows:
        assert r["unit_path"] == paths[r["unit_id"]]
        if r["status"] == "withheld":
            assert r["n"] is None and all(r.get(c) is None for c in NUMBERS), r
            continue
        assert isinstance(r["n"], int) and not isinstance(r["n"], bool) and r["n"] >= 5, r
        for c in NUMBERS:
            assert r.get(c) is None or isinstance(r[c], int | float), (c, r)
        assert isinstance(r["mean"], int | float)  # XLSX reads 4.0 back as 4: still a number
        assert SUPPRESSED_LABEL not in map(str, r.values())
    assert any(" › " in r["unit_path"] for r in rows)  # deeper units carry their whole path


def csv_rows(text: str) -> list[dict]:
    """CSV rows with numbers parsed strictly: an integer column must hold digits only."""
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    out = []
    for rec in raw.to_dict("records"):
        row = dict(rec)
        assert re.fullmatch(r"\d*", row["n"]), row["n"]  # "26", never "26.0" or "n = 26"
        row["n"] = int(row["n"]) if row["n"] else None
        for c in NUMBERS:
            if c in row:
                row[c] = float(row[c]) if row[c] != "" else None
        out.append(row)
    return out


def xlsx_rows(path: Path, sheet: str) -> list[dict]:
    book = load_workbook(path)
    rows = list(book[sheet].iter_rows(values_only=True))
    book.close()
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


# ------------------------------------------------------------------------- culture scores

def test_scores_csv_is_numeric_with_status_and_unit_paths(ws_args, latest, capsys):
    _, paths = latest
    assert main([*ws_args, "scores", "--wave", "latest", "--format", "csv"]) == EXIT_OK
    text = capsys.readouterr().out
    table = pd.read_csv(io.StringIO(text))
    assert list(table.columns[:4]) == ["unit_id", "unit_path", "unit", "level"]
    for c in ("n", *NUMBERS):
        assert pd.api.types.is_numeric_dtype(table[c]), c
    check_analyst_rows(csv_rows(text), paths)


def test_scores_json_is_numeric_with_status(ws_args, latest, tmp_path, capsys):
    _, paths = latest
    out = tmp_path / "scores.json"
    assert main([*ws_args, "scores", "--wave", "latest", "--format", "json", "-o", str(out)]) == EXIT_OK
    check_analyst_rows(json.loads(out.read_text(encoding="utf-8")), paths)


def test_scores_xlsx_is_numeric_and_byte_reproducible(ws_args, latest, tmp_path, capsys):
    _, paths = latest
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    for target in (first, second):
        assert main([*ws_args, "scores", "--wave", "latest", "--format", "xlsx", "-o",
                     str(target)]) == EXIT_OK
    assert first.read_bytes() == second.read_bytes()
    check_analyst_rows(xlsx_rows(first, "scores"), paths)


def test_scores_cut_for_analysts_keeps_the_band(ws_args, latest, capsys):
    """The latest wave is published cut by role_level (the instrument's leader demographic)."""
    _, paths = latest
    code = main([*ws_args, "scores", "--wave", "latest", "--by", "role_level", "--format", "json"])
    assert code == EXIT_OK
    rows = json.loads(capsys.readouterr().out)
    assert {"demographic", "band", "status", "n"} <= set(rows[0])
    for r in rows:
        assert r["unit_path"] == paths[r["unit_id"]]
        assert (r["n"] is None) == (r["status"] == "withheld")


def test_scores_table_for_people_keeps_counts_as_text(ws_args, latest, capsys):
    _, paths = latest
    assert main([*ws_args, "scores", "--wave", "latest", "--level", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "n = " in out and SUPPRESSED_LABEL in out and "status" not in out
    assert any(p in out for p in paths.values() if " › " in p)


# ------------------------------------------------------------------------- the pack's exports

@pytest.fixture(scope="module")
def exports(small_workspace, instrument, tmp_path_factory):
    """A bundle of the latest wave and its exports (what the pack publishes), plus what
    must never appear in them."""
    from culture.pipeline import compute_bundle
    from culture.pipeline.packs import leak_inputs

    ws, _ = small_workspace
    wave = ws.waves()[-1]
    root = tmp_path_factory.mktemp("exports")
    bundle, released = compute_bundle(ws, instrument, wave, root / "bundle")
    folder = root / "out"
    folder.mkdir()
    names = write_exports(bundle, folder)
    pseudonyms, texts = leak_inputs(released, instrument)
    return folder, names, bundle, pseudonyms, texts, org_paths(ws.org(wave))


def test_release_csv_and_xlsx_are_analyst_ready(exports):
    folder, names, bundle, *_, paths = exports
    assert names[:2] == ["release.csv", "release.xlsx"]
    text = (folder / "release.csv").read_text(encoding="utf-8")
    scores = pd.read_csv(io.StringIO(text))
    for c in ("n", "mean", "sd", "se", *NUMBERS):
        assert pd.api.types.is_numeric_dtype(scores[c]), c
    construct_rows = [r for r in csv_rows(text) if r["kind"] != "respondents"]
    check_analyst_rows(construct_rows, paths)
    # one row per release row, withheld exactly where the release suppressed
    raw = bundle.release.table("scores")
    assert (scores["status"] == "withheld").sum() == (raw["status"] == "suppressed").sum()

    book = load_workbook(folder / "release.xlsx")
    assert book.sheetnames == SHEETS
    book.close()
    for sheet in SHEETS:
        rows = xlsx_rows(folder / "release.xlsx", sheet)
        raw = bundle.release.table(sheet)
        assert len(rows) == len(raw), sheet
        assert [r["status"] for r in rows] == list(raw["status"].map(
            {"released": "released", "suppressed": "withheld"})), sheet
        for r in rows:
            assert r["unit_path"] == paths[r["unit_id"]]
            if r["status"] == "withheld":   # empty, never 0: an empty group looks withheld
                assert r["n"] is None
            else:
                assert isinstance(r["n"], int) and r["n"] >= 5
            for c in ("mean", "ci_low", "ci_high", "pct_favourable", "response_rate"):
                assert r.get(c) is None or isinstance(r[c], int | float), (sheet, c)
            assert not any(isinstance(v, str) and v.startswith("n = ") for v in r.values())


def test_exports_pass_the_leak_gate(exports, small_workspace):
    folder, _, bundle, pseudonyms, texts, _ = exports
    report = scan_outputs(folder, pseudonyms=pseudonyms, unreleased_texts=texts,
                          k=bundle.release.thresholds.scores)
    assert report.passed, report.findings
    assert report.files_scanned == 5


def test_exports_rebuild_byte_for_byte(exports, tmp_path):
    folder, names, bundle, *_ = exports
    again = tmp_path / "again"
    again.mkdir()
    assert write_exports(bundle, again) == names
    for name in names:
        assert hashlib.sha256((again / name).read_bytes()).digest() == \
            hashlib.sha256((folder / name).read_bytes()).digest(), name


def test_published_pack_exports_are_numeric(small_pack):
    """What the pack publishes (after its leak gate passed) is the analysts' form."""
    result, ws, _ = small_pack
    paths = org_paths(ws.org(ws.waves()[-1]))
    text = (result.folder / "release.csv").read_text(encoding="utf-8")
    rows = [r for r in csv_rows(text) if r["kind"] != "respondents"]
    check_analyst_rows(rows, paths)


# ------------------------------------------------------------------------- formulas

@dataclass(frozen=True)
class _Bundle:
    """The two things write_exports reads from a bundle."""

    release: Release
    tables: dict

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name].copy()


def test_text_cells_are_neutralised_and_numbers_stay_numbers(tmp_path):
    from test_anonymity import release_of

    tree = {"CO": (None, 2), "SALES": ("CO", 4), "TECH": ("CO", 9), "OPS": ("CO", 12)}
    rel, _, resp = release_of(tree)
    tables = {t: rel.table(t) for t in ("units", "scores", "items", "response_rates", "cuts",
                                         "comments")}
    units = tables["units"]
    units["name"] = units["name"].astype(object)
    units.loc[units["unit_id"] == "OPS", "name"] = '=HYPERLINK("http://evil","x")'
    units.loc[units["unit_id"] == "TECH", "name"] = "+SUM(1,2)"
    hand = Release(wave=rel.wave, instrument_id=rel.instrument_id,
                   instrument_version=rel.instrument_version, thresholds=rel.thresholds,
                   demographic=rel.demographic, _tables=tables)
    bundle = _Bundle(hand, {"iso_evidence": pd.DataFrame({"clause": ["5.1"], "evidence": ["-x"]}),
                            "findings": pd.DataFrame({"finding": ["@cmd"], "rank": [1]})})
    write_exports(bundle, tmp_path)  # type: ignore[arg-type]

    scores = pd.read_csv(tmp_path / "release.csv", dtype=str, keep_default_na=False)
    ops = scores[scores["unit_id"] == "OPS"]
    assert set(ops["unit"]) == {"'=HYPERLINK(\"http://evil\",\"x\")"}
    assert set(ops["unit_path"]) == {"'=HYPERLINK(\"http://evil\",\"x\")"}
    assert set(scores.loc[scores["unit_id"] == "TECH", "unit"]) == {"'+SUM(1,2)"}
    assert ops["n"].str.fullmatch(r"\d+").all()  # numbers are not text: untouched
    assert pd.read_csv(tmp_path / "iso_evidence.csv")["evidence"].tolist() == ["'-x"]
    assert pd.read_csv(tmp_path / "findings.csv")["finding"].tolist() == ["'@cmd"]

    book = load_workbook(tmp_path / "release.xlsx")
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@")))
    book.close()
    n_cells = [r["n"] for r in xlsx_rows(tmp_path / "release.xlsx", "scores")
               if r["unit_id"] == "OPS"]
    assert n_cells and all(isinstance(v, int) for v in n_cells)
    report = scan_outputs(tmp_path, pseudonyms=resp["respondent"], unreleased_texts=[], k=5)
    assert report.passed, report.findings


def test_write_xlsx_takes_sheets_one_at_a_time(tmp_path):
    """A generator of sheets is consumed in order, each table built only when it is due."""
    built = []

    def sheets():
        for name in ("first", "second"):
            built.append(name)
            yield name, pd.DataFrame({"n": pd.array([7, None], dtype="Int64"),
                                      "mean": [1.25, math.nan], "label": ["=x", "plain"]})

    write_xlsx(sheets(), tmp_path / "t.xlsx")
    assert built == ["first", "second"]
    rows = xlsx_rows(tmp_path / "t.xlsx", "second")
    assert rows == [{"n": 7, "mean": 1.25, "label": "'=x"}, {"n": None, "mean": None, "label": "plain"}]
