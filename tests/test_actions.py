"""Improvement actions: reading registers, the workspace table, the commands, the follow-up.

Recovery of planted effective and null actions over seeds: tests/test_actions_recovery.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culture.analysis.actions import (
    FOLLOW_UP_COLUMNS,
    IMPROVED,
    NOT_YET,
    SUGGESTION_COLUMNS,
    WITHHELD,
    action_summary,
    actions_with_verdicts,
    follow_up,
    suggest_actions,
    wave_date,
    waves_around,
)
from culture.boundary import SUPPRESSED, Release
from culture.boundary.release import SPREAD, STATS
from culture.cli import main
from culture.errors import EXIT_BAD_INPUT, EXIT_OK, ValidationError
from culture.frames import ACTION_COLUMNS
from culture.ingest.actions import default_clause, parse_clause, read_actions
from culture.measure.instrument import load_default_instrument
from culture.pipeline import synthetic_releases
from culture.store import Workspace
from culture.synth.actions import planted_actions

FIXTURES = Path(__file__).parent / "fixtures" / "actions"
INSTRUMENT = load_default_instrument()
UNITS = pd.read_csv(FIXTURES / "org.csv")["unit_id"].tolist()
HEADER = ["action_id", "unit_id", "construct", "finding_id", "clause", "owner", "opened", "due",
          "status", "closed"]


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_org(FIXTURES / "org.csv", wave="2026Q1")
    return ws


# --------------------------------------------------------------------------- reading

def test_a_capa_export_is_read_in_its_own_words():
    frame = read_actions(FIXTURES / "capa_export.xlsx", instrument=INSTRUMENT, org_units=UNITS)
    assert frame.columns.tolist() == [*ACTION_COLUMNS, "source_row"]
    assert frame["action_id"].tolist() == ["CAPA-2026-014", "CAPA-2026-015", "CAPA-2026-016"]
    # a construct by its name, an item by its id, a construct by its id
    assert frame["construct"].tolist() == ["communication", "SU3", "ownership"]
    assert frame["status"].tolist() == ["closed", "open", "cancelled"]   # "In progress" is open
    assert frame["clause"].tolist() == ["10.2", "10.3", "10.2"]          # blank + finding: 10.2
    assert frame["closed"].iloc[0] == pd.Timestamp("2026-04-22") and frame["closed"].isna()[1]
    assert frame["due"].dtype == "datetime64[ns]"
    assert frame["finding_id"].tolist() == ["C002", None, "C004"]


def test_a_generic_action_list_is_read_too():
    frame = read_actions(FIXTURES / "action_list.csv", instrument=INSTRUMENT, org_units=UNITS)
    assert frame["unit_id"].tolist() == ["S2-D1-T1", "S2-D1", "S1"]
    assert frame["construct"].tolist() == ["ownership", "resources", "speaking_up"]
    assert frame["status"].tolist() == ["closed", "open", "open"]        # Completed, In progress
    assert frame["clause"].tolist() == ["10.2", "5.1.1 e", "10.2"]
    assert frame["owner"].tolist() == ["Team lead", "Warehouse manager", "Plant manager"]


def test_clause_numbers_and_defaults():
    assert parse_clause("ISO 9001:2015 10.2") == "10.2"
    assert parse_clause("clause 5.1.1a") == "5.1.1 a"
    assert parse_clause("7.1.6") == "7.1.6"
    assert [parse_clause(x) for x in ("11.2", "10.2.3.4.5", "ten", "3.1")] == [None] * 4
    assert default_clause("C001") == "10.2" and default_clause(None) == "10.3"


def test_every_problem_at_once_by_row_and_column_without_cell_content(tmp_path):
    secret = "Zebra-7731"   # stands for any cell text; no message may repeat it
    path = write(tmp_path / "bad.csv", [
        HEADER,
        ["A1", "S1", "ownership", "", "", "Ann", "2026-01-10", "2026-03-01", "open", ""],
        ["A1", f"{secret}-unit", f"{secret}-topic", "", f"{secret}", "", "2026-02-30",
         f"{secret}", f"{secret}", ""],
        ["A3", "S1", "ownership", "", "", "Bo", "2026-03-01", "2026-02-01", "closed", ""],
        ["A4", "S1", "ownership", "", "", "Cy", "2026-03-01", "2026-04-01", "open",
         "2026-03-15"],
    ])
    with pytest.raises(ValidationError) as exc:
        read_actions(path, instrument=INSTRUMENT, org_units=UNITS)
    where = [p.where for p in exc.value.problems]
    assert where == [
        "row 3, column action_id", "row 3, column clause", "row 3, column construct",
        "row 3, column due", "row 3, column opened", "row 3, column owner",
        "row 3, column status", "row 3, column unit_id",
        "row 4, column closed", "row 4, column due", "row 5, column closed"]
    assert secret not in str(exc.value)
    assert "before the opened date" in str(exc.value) and "needs its closing date" in str(
        exc.value)


def test_missing_columns_are_named_with_the_mapping_hint(tmp_path):
    path = write(tmp_path / "few.csv", [["Ref", "Department", "Notes"], ["A1", "S1", "x"]])
    with pytest.raises(ValidationError) as exc:
        read_actions(path, instrument=INSTRUMENT)
    missing = {p.message.split("'")[1] for p in exc.value.problems}
    assert missing == {"construct", "owner", "opened", "due", "status"}
    assert "--mapping" in str(exc.value)


def test_a_mapping_names_other_headers(tmp_path):
    path = write(tmp_path / "own.csv", [
        ["Nr", "Where", "What", "Who", "From", "Until", "Done?"],
        ["7", "S1-D1", "ownership", "Ann", "2026-01-05", "2026-02-05", "open"]])
    mapping = write(tmp_path / "map.csv", [["source", "target"], ["Nr", "action_id"],
                                           ["Where", "unit_id"], ["What", "construct"],
                                           ["Who", "owner"], ["From", "opened"],
                                           ["Until", "due"], ["Done?", "status"]])
    frame = read_actions(path, instrument=INSTRUMENT, org_units=UNITS, mapping=mapping)
    assert frame[["action_id", "unit_id", "clause"]].values.tolist() == [["7", "S1-D1", "10.3"]]


# --------------------------------------------------------------------------- the workspace

def test_import_is_ledgered_and_the_same_file_again_is_a_no_op(ws):
    report = ws.ingest_actions(FIXTURES / "capa_export.xlsx", INSTRUMENT)
    assert (report.kind, report.rows_in, report.new, report.superseded) == ("actions", 3, 3, 0)
    assert ws.actions()["action_id"].tolist() == ["CAPA-2026-014", "CAPA-2026-015",
                                                  "CAPA-2026-016"]
    before = ws.content_hash()
    again = ws.ingest_actions(FIXTURES / "capa_export.xlsx", INSTRUMENT)
    assert again.no_op and again.import_id == report.import_id
    assert ws.content_hash() == before
    imports = ws.imports()
    assert imports["kind"].tolist() == ["org", "actions"]


def test_a_later_register_updates_the_actions_it_lists_and_keeps_history(ws, tmp_path):
    ws.ingest_actions(FIXTURES / "action_list.csv", INSTRUMENT)
    update = write(tmp_path / "update.csv", [
        HEADER, ["ACT-2", "S2-D1", "resources", "", "5.1.1 e", "Warehouse manager",
                 "2026-02-01", "2026-04-30", "closed", "2026-04-28"],
        ["ACT-9", "S1-D2", "CO2", "", "", "Shift lead", "2026-03-01", "2026-05-01", "open", ""]])
    report = ws.ingest_actions(update, INSTRUMENT)
    assert (report.new, report.superseded) == (1, 1)
    now = ws.actions().set_index("action_id")
    assert now.loc["ACT-2", "status"] == "closed" and now.loc["ACT-1", "status"] == "closed"
    assert now.index.tolist() == ["ACT-1", "ACT-2", "ACT-3", "ACT-9"]   # ACT-1, 3 kept
    history = ws.actions(history=True)
    assert history[history["action_id"] == "ACT-2"]["status"].tolist() == ["open", "closed"]
    assert set(history["origin"]) == {"import"}


def test_a_failed_import_changes_nothing(ws, tmp_path):
    before = ws.content_hash()
    bad = write(tmp_path / "bad.csv", [HEADER, ["A1", "XX", "ownership", "", "", "Ann",
                                                "2026-01-10", "2026-03-01", "open", ""]])
    with pytest.raises(ValidationError, match="not in any stored org chart"):
        ws.ingest_actions(bad, INSTRUMENT)
    dry = ws.ingest_actions(FIXTURES / "capa_export.xlsx", INSTRUMENT, dry_run=True)
    assert dry.dry_run and dry.import_id is None and dry.new == 3
    assert ws.content_hash() == before


def test_add_and_close_single_actions(ws):
    first = ws.add_action(INSTRUMENT, unit_id="S1-D1", construct="Empowerment and ownership",
                          owner="Ann", due="2026-06-30", opened="2026-04-01", finding_id="C003")
    second = ws.add_action(INSTRUMENT, unit_id="S1", construct="LC2", owner="Bo",
                           due="2026-07-31", opened="2026-04-02")
    assert (first, second) == ("A-0001", "A-0002")
    now = ws.actions().set_index("action_id")
    assert now.loc[first, ["construct", "clause", "status"]].tolist() == ["ownership", "10.2",
                                                                         "open"]
    assert now.loc[second, "clause"] == "10.3"
    ws.close_action(first, closed="2026-06-15")
    assert ws.actions().set_index("action_id").loc[first, "closed"] == pd.Timestamp("2026-06-15")
    assert ws.actions(history=True)["origin"].tolist() == ["add", "add", "close"]
    with pytest.raises(ValidationError, match="not open"):
        ws.close_action(first, closed="2026-06-20")
    with pytest.raises(ValidationError, match="before the action was opened"):
        ws.close_action(second, closed="2026-01-01")
    with pytest.raises(ValidationError) as exc:
        ws.add_action(INSTRUMENT, unit_id="nowhere", construct="nothing", owner="",
                      due="2026-13-01")
    assert [p.where for p in exc.value.problems] == ["construct", "due", "owner", "unit_id"]


# --------------------------------------------------------------------------- the commands

def test_cli_ingest_add_list_close(ws, capsys):
    base = ["--workspace", str(ws.root)]
    assert main([*base, "ingest", "actions", str(FIXTURES / "capa_export.xlsx")]) == EXIT_OK
    assert "Imported" in capsys.readouterr().out
    assert main([*base, "actions", "add", "--unit", "S2-D1", "--construct", "resources",
                 "--owner", "Dee", "--due", "2026-09-30", "--finding", "C009",
                 "--opened", "2026-07-01"]) == EXIT_OK
    assert "A-0001" in capsys.readouterr().out
    assert main([*base, "actions", "close", "A-0001", "--date", "2026-09-01"]) == EXIT_OK
    capsys.readouterr()
    assert main([*base, "actions", "list", "--format", "json"]) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [a["action_id"] for a in listed] == ["A-0001", "CAPA-2026-014", "CAPA-2026-015",
                                                "CAPA-2026-016"]
    assert listed[0]["status"] == "closed" and listed[0]["clause"] == "10.2"
    assert main([*base, "actions", "list", "--format", "csv"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("action_id,unit_id,construct")
    assert main([*base, "actions", "list"]) == EXIT_OK
    assert "CAPA-2026-016" in capsys.readouterr().out
    assert main([*base, "actions", "add", "--unit", "XX", "--construct", "resources",
                 "--owner", "Dee", "--due", "2026-09-30"]) == EXIT_BAD_INPUT
    assert "unit_id: unit is not in any stored org chart" in capsys.readouterr().err


def test_cli_dry_run_writes_nothing(ws, capsys):
    before = ws.content_hash()
    code = main(["--workspace", str(ws.root), "ingest", "actions",
                 str(FIXTURES / "action_list.csv"), "--dry-run"])
    assert code == EXIT_OK and "Dry run" in capsys.readouterr().out
    assert ws.content_hash() == before


# --------------------------------------------------------------------------- follow-up

def test_waves_are_dated_at_the_quarter_start():
    assert wave_date("2026Q3") == pd.Timestamp("2026-07-01")
    waves = ["2026Q1", "2026Q2", "2026Q3"]
    assert waves_around(pd.Timestamp("2026-04-15"), pd.Timestamp("2026-06-30"), waves) == \
        ("2026Q2", "2026Q3")
    assert waves_around(pd.Timestamp("2026-04-15"), pd.Timestamp("2026-07-01"), waves) == \
        ("2026Q2", None)
    dates = {"2026Q2": "2026-05-20"}   # fieldwork in May: an action opened on 15 April is before
    assert waves_around(pd.Timestamp("2026-04-15"), pd.NaT, waves, dates)[0] == "2026Q1"


@pytest.fixture(scope="module")
def planted():
    """Seed 4 of the small organisation (7 waves), released in its last two waves."""
    from culture.synth import SynthConfig, make_organisation

    org = make_organisation(INSTRUMENT, SynthConfig(seed=4, n_sites=2, n_waves=7))
    releases = synthetic_releases(org, INSTRUMENT, waves=list(org.waves[-2:]))
    return org, planted_actions(org), releases


def test_follow_up_columns_and_planted_verdicts(planted):
    org, actions, releases = planted
    fu = follow_up(actions, releases, min_change=0.2)
    assert fu.columns.tolist() == list(FOLLOW_UP_COLUMNS)
    verdict = dict(zip(fu["action_id"], fu["verdict"], strict=True))
    assert verdict.pop("SYN-E1") == IMPROVED
    assert set(verdict.values()) == {NOT_YET}
    assert fu[["wave_before", "wave_after"]].drop_duplicates().values.tolist() == \
        [list(org.waves[-2:])]
    assert (fu["q"] >= fu["p"]).all() and (fu["n_comparison_units"] > 0).all()
    assert "association" in fu.loc[fu["action_id"] == "SYN-E1", "reason"].iloc[0]


def _suppress(rel: Release, unit: str, columns: tuple[str, ...]) -> Release:
    """The same release with ``unit``'s construct cells withheld (``columns`` = STATS) or only
    their spread withheld (``columns`` = SPREAD)."""
    tables = {name: rel.table(name) for name in ("units", "scores", "items", "response_rates",
                                                  "cuts", "comments")}
    s = tables["scores"]
    hit = s["unit_id"] == unit
    for col in columns:
        s.loc[hit, col] = np.nan
    if columns == STATS:
        s.loc[hit, "status"] = SUPPRESSED
        s["n"] = s["n"].astype("Int64").mask(hit)
    return Release(rel.wave, rel.instrument_id, rel.instrument_version, rel.thresholds,
                   rel.demographic, tables)


def test_an_action_on_a_withheld_cell_is_not_measurable(planted):
    org, actions, releases = planted
    effective = actions.iloc[0]
    before = org.waves[-2]
    withheld = dict(releases) | {before: _suppress(releases[before], effective.unit_id, STATS)}
    row = follow_up(actions, withheld, min_change=0.2).iloc[0]
    assert row.verdict == WITHHELD and np.isnan(row.mean_before) and np.isnan(row.p)
    assert f"not reported in {before}" in row.reason
    no_sd = dict(releases) | {before: _suppress(releases[before], effective.unit_id, SPREAD)}
    row = follow_up(actions, no_sd, min_change=0.2).iloc[0]
    assert row.verdict == WITHHELD and row.change > 0 and np.isnan(row.p)
    assert "cannot be tested" in row.reason


def test_a_team_too_small_to_report_is_not_measurable(planted):
    org, actions, releases = planted
    scores = releases[org.waves[-1]].table("scores")
    small = scores.loc[scores["status"] == SUPPRESSED, "unit_id"].iloc[0]
    action = actions.iloc[[0]].assign(action_id="T-1", unit_id=small)
    assert follow_up(action, releases, min_change=0.2)["verdict"].tolist() == [WITHHELD]


def test_no_survey_since_closing_and_open_actions(planted):
    org, actions, releases = planted
    late = actions.iloc[[0]].assign(action_id="L-1", opened=pd.Timestamp("2026-08-01"),
                                    closed=pd.Timestamp("2026-09-01"))
    still_open = actions.iloc[[1]].assign(action_id="O-1", status="open", closed=pd.NaT)
    fu = follow_up(pd.concat([late, still_open]), releases, min_change=0.2)
    assert fu["action_id"].tolist() == ["L-1"]          # only closed actions are followed up
    assert (fu["verdict"].iloc[0], fu["reason"].iloc[0]) == (NOT_YET, "no survey since it closed")


def test_summary_and_the_register_with_verdicts(planted):
    _, actions, releases = planted
    extra = pd.DataFrame([
        {"action_id": "O-1", "unit_id": "S1", "construct": "resources", "status": "open",
         "opened": pd.Timestamp("2026-08-01"), "due": pd.Timestamp("2026-09-01")},
        {"action_id": "O-2", "unit_id": "S1", "construct": "communication", "status": "open",
         "opened": pd.Timestamp("2026-08-01"), "due": pd.Timestamp("2027-03-01")},
        {"action_id": "X-1", "unit_id": "S2", "construct": "resources", "status": "cancelled",
         "opened": pd.Timestamp("2026-08-01"), "due": pd.NaT}])
    register = pd.concat([actions[list(ACTION_COLUMNS)], extra], ignore_index=True)
    fu = follow_up(register, releases, min_change=0.2)
    summary = action_summary(register, fu, today=pd.Timestamp("2026-10-01"))
    closed = len(actions)
    assert summary == {"open": 2, "overdue": 1, "closed": closed, "cancelled": 1,
                       "measured": closed, "improved": 1, "share_improved": 1 / closed}
    listed = actions_with_verdicts(register, fu, today=pd.Timestamp("2026-10-01"))
    assert listed.set_index("action_id")["overdue"].to_dict()["O-1"]
    assert listed.set_index("action_id").loc["O-2", "verdict"] is None
    assert listed.set_index("action_id").loc["SYN-E1", "verdict"] == IMPROVED


def test_suggestions_skip_focus_areas_with_an_open_action():
    focus = pd.DataFrame({"unit_id": ["S1", "S1", "S2"],
                          "measure": ["ownership", "resources", "ownership"],
                          "finding_id": ["C001", None, None],
                          "direction": ["down", None, None],
                          "below_target": [False, False, True]})
    actions = pd.DataFrame({"action_id": ["A", "B"], "unit_id": ["S1", "S2"],
                            "construct": ["resources", "ownership"],
                            "status": ["open", "closed"]})
    out = suggest_actions(focus, actions, names={"ownership": "Empowerment and ownership"})
    assert out.columns.tolist() == list(SUGGESTION_COLUMNS)
    assert out[["unit_id", "suggested_clause"]].values.tolist() == [["S1", "10.2"],
                                                                   ["S2", "10.2"]]
    assert out["text"].iloc[0] == ("Agree a corrective action on Empowerment and ownership "
                                   "with the team (ISO 9001 10.2)")
    improvement = suggest_actions(focus.iloc[[1]].assign(unit_id="S3"), actions)
    assert improvement["text"].iloc[0] == ("Agree an action on resources with the team "
                                           "(ISO 9001 10.3)")
