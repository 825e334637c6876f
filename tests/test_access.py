"""The access list (who receives which part of the pack): reading, checks, store, stale waves.

``make_access_list`` (used by test_publish and test_delivery too) writes one from an org
chart: a leader per unit, two executives, one HR person and one person with no scope.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest

from culture.cli import main
from culture.errors import (
    EXIT_OK,
    EXIT_STALE_WAVE,
    ConfigError,
    StaleWaveError,
    ValidationError,
)
from culture.ingest.access import read_access
from culture.pipeline import resolve_wave
from culture.store import Workspace
from culture.store import schema as store_mod

HEADER = ["person_id", "email", "role", "unit_id", "scope"]


def make_access_list(org: pd.DataFrame, path: Path, *, max_level: int | None = None,
                     no_scope_unit: str | None = None) -> Path:
    """A leader per unit of ``org`` (levels up to ``max_level``; the units below are covered
    by their leaders' subtrees), executives E-1 and E-2, HR person H-1, and N-1: the leader
    of ``no_scope_unit`` alone (scope ``unit``), a unit without a brief in the pack."""
    rows = [HEADER]
    for u in org.itertuples():
        if max_level is None or int(u.level) <= max_level:
            rows.append([f"L-{u.unit_id}", f"lead.{u.unit_id.lower()}@example.org", "leader",
                         u.unit_id, "subtree"])
    rows += [["E-1", "ceo@example.org", "executive", "", ""],
             ["E-2", "coo@example.org", "Executive", "", ""],
             ["H-1", "people@example.org", "hr", "", ""]]
    if no_scope_unit:
        rows.append(["N-1", "team.lead@example.org", "leader", no_scope_unit, "unit"])
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


ORG = pd.DataFrame({"unit_id": ["CO", "S1", "T1", "T2", "S2", "T3"],
                    "parent_id": [None, "CO", "S1", "S1", "CO", "S2"],
                    "name": ["Company", "Site 1", "Team 1", "Team 2", "Site 2", "Team 3"],
                    "level": [0, 1, 2, 2, 1, 2]})


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_a_generated_list_reads_back_one_row_per_person_and_unit(tmp_path):
    frame = read_access(make_access_list(ORG, tmp_path / "a.csv", no_scope_unit="T3"), org=ORG)
    assert set(frame["role"]) == {"leader", "executive", "hr"}     # roles case-folded
    assert frame.loc[frame["person_id"] == "L-S1", "unit_id"].tolist() == ["S1"]
    assert frame.loc[frame["person_id"] == "E-1", "unit_id"].tolist() == [None]
    assert frame.loc[frame["person_id"] == "N-1", "scope"].tolist() == ["unit"]
    assert frame["source_row"].tolist() == list(range(2, 2 + len(frame)))


def test_several_units_in_one_cell_and_blank_scope(tmp_path):
    path = write(tmp_path / "a.csv", [HEADER, ["P1", "p1@example.org", "leader", "S1; S2", ""],
                                      ["P2", "p2@example.org", "leader", "CO", "unit"]])
    frame = read_access(path, org=ORG)
    assert frame[["person_id", "unit_id", "scope"]].values.tolist() == [
        ["P1", "S1", "subtree"], ["P1", "S2", "subtree"], ["P2", "CO", "unit"]]


def test_every_problem_is_listed_at_once_by_row_and_column_never_quoting_an_address(tmp_path):
    secret = "very.private.person@example.org"
    path = write(tmp_path / "bad.csv", [
        HEADER,
        ["P1", "p1@example.org", "leader", "S1", ""],
        ["P2", "p2@example.org", "leader", "NOPE", ""],           # unknown unit
        ["P3", "p3@example.org", "leader", "", ""],               # a leader without a unit
        ["P4", "not-an-address", "executive", "", ""],            # malformed address
        ["P5", secret, "boss", "", ""],                           # unknown role
        ["P1", "other@example.org", "leader", "T1", ""],          # two addresses for P1
        ["P6", "p1@example.org", "hr", "", ""],                   # P1's address for another
        ["P7", "p7@example.org", "leader", "S1", "everything"],   # unknown scope
    ])
    with pytest.raises(ValidationError) as err:
        read_access(path, org=ORG)
    where = {p.where for p in err.value.problems}
    assert {"row 3, column unit_id", "row 4, column unit_id", "row 5, column email",
            "row 6, column role", "row 7, column email", "row 8, column email",
            "row 9, column scope"} <= where
    # S2 and its team have no leader: their briefs would reach nobody
    assert {"unit 'S2'", "unit 'T3'"} <= where and "unit 'T1'" not in where
    text = str(err.value)
    assert secret not in text and "p1@example.org" not in text and "@" not in text


def test_a_mapping_names_other_headers(tmp_path):
    path = write(tmp_path / "hr-export.csv", [
        ["Employee number", "Work mail", "Access", "Cost centre", "Notes"],
        ["4711", "a@example.org", "leader", "CO", "free text is never read"]])
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  Employee number: person_id\n  Work mail: email\n"
                       "  Access: role\n  Cost centre: unit_id\n", encoding="utf-8")
    frame = read_access(path, org=ORG, mapping=mapping)
    assert frame[["person_id", "unit_id"]].values.tolist() == [["4711", "CO"]]
    with pytest.raises(ValidationError, match="required column 'person_id'"):
        read_access(path, org=ORG)


def org_csv(path: Path, units: pd.DataFrame) -> Path:
    units[["unit_id", "parent_id", "name"]].to_csv(path, index=False)
    return path


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_org(org_csv(tmp_path / "org.csv", ORG), wave="2026Q1")
    return ws


def test_the_store_keeps_the_list_per_wave_and_a_repeat_is_a_no_op(ws, tmp_path):
    path = make_access_list(ORG, tmp_path / "access.csv")
    with pytest.raises(ConfigError, match="no access list"):
        ws.access_list("2026Q1")
    dry = ws.ingest_access(path, wave="2026Q1", dry_run=True)
    assert dry.dry_run and dry.import_id is None
    with pytest.raises(ConfigError):
        ws.access_list("2026Q1")
    report = ws.ingest_access(path, wave="2026Q1")
    assert report.import_id and report.rows_in == len(ORG) + 3
    assert ws.ingest_access(path, wave="2026Q1").no_op
    later = ws.access_list("2026Q4")                     # in force until another is imported
    assert later.attrs["access_wave"] == "2026Q1"
    assert set(later["person_id"]) == {f"L-{u}" for u in ORG["unit_id"]} | {"E-1", "E-2", "H-1"}
    ledger = ws.imports()
    assert ledger.iloc[-1]["kind"] == "access" and (ws.archive_dir / (
        ledger.iloc[-1]["sha256"] + ".csv")).exists()


def test_a_bad_list_changes_nothing_in_the_store(ws, tmp_path):
    before = ws.content_hash()
    path = write(tmp_path / "bad.csv", [HEADER, ["P1", "p1@example.org", "leader", "XX", ""]])
    with pytest.raises(ValidationError):
        ws.ingest_access(path, wave="2026Q1")
    assert ws.content_hash() == before


def test_a_schema_2_workspace_gets_the_access_table(tmp_path):
    ws = Workspace.init(tmp_path / "old")
    with duckdb.connect(str(ws.db_path)) as con:
        con.execute("DROP TABLE access_list")
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version VALUES (2, now())")
    again = Workspace.open(ws.root)
    assert again.status()["schema_version"] == store_mod.SCHEMA_VERSION == 4
    with pytest.raises(ConfigError, match="no access list"):
        again.access_list("2026Q1")                      # the table exists, empty


def stub(waves, org_waves, headcount_waves=()):
    return SimpleNamespace(root=Path("ws"), waves=lambda: list(waves),
                           status=lambda: {"org_waves": list(org_waves),
                                           "headcount_waves": list(headcount_waves)})


def test_latest_refuses_a_wave_whose_export_has_not_arrived():
    fresh = stub(["2026Q2", "2026Q3"], ["2026Q2", "2026Q3"], ["2026Q3"])
    assert resolve_wave(fresh, "latest") == "2026Q3"
    stale = stub(["2026Q2", "2026Q3"], ["2026Q3"], ["2026Q3", "2026Q4"])
    with pytest.raises(StaleWaveError, match="2026Q4") as err:
        resolve_wave(stale, "latest")
    assert err.value.exit_code == EXIT_STALE_WAVE == 8
    assert resolve_wave(stale, "latest", allow_stale=True) == "2026Q3"
    assert resolve_wave(stale, "2026Q3") == "2026Q3"     # a named wave is never refused


def test_publish_latest_exits_8_when_a_newer_org_chart_has_no_responses(small_workspace,
                                                                        tmp_path):
    ws, _ = small_workspace
    copy = tmp_path / "ws"
    shutil.copytree(ws.root, copy, ignore=shutil.ignore_patterns("bundles", "releases"))
    latest = Workspace.open(copy).waves()[-1]
    year, q = int(latest[:4]), int(latest[-1])
    nxt = f"{year + q // 4}Q{q % 4 + 1}"
    org = Workspace.open(copy).org(latest)
    Workspace.open(copy).ingest_org(org_csv(tmp_path / "org-next.csv", org), wave=nxt)
    code = main(["--workspace", str(copy), "publish", "--wave", "latest", "--dry-run",
                 "--reports", str(tmp_path / "reports")])
    assert code == EXIT_STALE_WAVE
    # told otherwise, it goes on (and stops later for want of an access list: exit 2)
    code = main(["--workspace", str(copy), "publish", "--wave", "latest", "--dry-run",
                 "--allow-previous-wave", "--reports", str(tmp_path / "reports")])
    assert code not in (EXIT_OK, EXIT_STALE_WAVE)
