"""The workspace store (culture.store): transactions, ledger, archive, versions, keys.

Inputs are built directly as ``ParsedResponses`` / canonical frames (the
contract ``culture.io`` hands over), written next to a small raw file that the
store hashes and archives. Truths checked here are planted by the test
(row counts, ids, which response changed) or published (SHA-256 of "abc").
"""

from __future__ import annotations

import json
import os
import stat

import duckdb
import numpy as np
import pandas as pd
import pytest

from culture.errors import (
    AccountingError,
    ConfigError,
    ImportConflictError,
    PseudonymKeyError,
    ValidationError,
    WorkspaceError,
)
from culture.frames import ParsedResponses
from culture.measure.instrument import parse_instrument
from culture.store import ImportReport, Workspace, archive, response_import
from culture.store import schema as store_mod
from culture.store.pseudonym import KEY_ENV, generate_key

WAVE = "2026Q1"
INSTRUMENT_DOC = {
    "id": "mini", "version": "1.0", "title": "Mini survey",
    "scale": {"min": 1, "max": 5, "favourable": [4, 5],
              "labels": {1: "SD", 2: "D", 3: "N", 4: "A", 5: "SA"}},
    "constructs": [{"id": "lead", "name": "Leadership", "clauses": ["5.1.1 a"]},
                   {"id": "comm", "name": "Communication", "clauses": ["7.4"]}],
    "items": [{"id": "L1", "construct": "lead", "text": "Leaders own quality."},
              {"id": "L2", "construct": "lead", "text": "Leaders set direction."},
              {"id": "C1", "construct": "comm", "text": "I know the quality policy."}],
    "comments": [{"id": "comment", "text": "Anything else?"}],
    "demographics": [{"id": "tenure", "name": "Tenure", "codes": {"t1": "<1y", "t2": "1y+"},
                      "missing": {"code": "t9", "label": "Prefer not to say"}}],
}
EMPTY_REJECTED = {"source_row": "int64", "column": object, "kind": object, "reason": object}
EMPTY_DUPLICATES = {"source_row": "int64", "duplicate_of": "int64"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(store_mod.WORKSPACE_ENV, raising=False)


@pytest.fixture
def mini():
    return parse_instrument(INSTRUMENT_DOC)


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def responses_frame(numbers, *, seed=0):
    """Canonical accepted rows for response numbers ``numbers`` (raw ids, source_row = position)."""
    numbers = np.asarray(list(numbers))
    rng = np.random.default_rng(seed)
    n = len(numbers)
    started = pd.Timestamp("2026-02-02 09:00") + pd.to_timedelta(numbers * 7, unit="min")
    items = rng.integers(1, 6, size=(n, 3)).astype("float64")
    items[numbers % 4 == 0, 2] = np.nan  # some unanswered items
    return pd.DataFrame({
        "response_id": [f"R_{k:05d}" for k in numbers],
        "respondent": [f"E{1000 + k}" for k in numbers],
        "wave": None,
        "unit_id": np.where(numbers % 2 == 0, "U-A", "U-B"),
        "started_at": started,
        "submitted_at": started + pd.Timedelta(minutes=6),
        "duration_s": 360.0 + numbers,
        "finished": numbers % 5 != 0,
        "tenure": np.where(numbers % 3 == 0, "t1", "t2"),
        "L1": items[:, 0], "L2": items[:, 1], "C1": items[:, 2],
        "comment": [f"comment {k}" if k % 3 == 0 else None for k in numbers],
        "source_row": np.arange(2, n + 2),
    })


def parsed(tmp_path, accepted, *, name="export.csv", rejected=None, duplicates=None,
           n_rows=None, dropped=("IPAddress",)):
    """A ParsedResponses whose ``source`` is a real file with content unique to this input."""
    rejected = (pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY_REJECTED.items()})
                if rejected is None else rejected)
    duplicates = (pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY_DUPLICATES.items()})
                  if duplicates is None else duplicates)
    raw = tmp_path / name
    raw.write_text(accepted.to_csv(index=False) + rejected.to_csv(index=False)
                   + duplicates.to_csv(index=False), encoding="utf-8")
    if n_rows is None:
        n_rows = len(accepted) + rejected["source_row"].nunique() + len(duplicates)
    return ParsedResponses(source=str(raw), format="csv", accepted=accepted, rejected=rejected,
                           duplicates=duplicates, dropped_columns=tuple(dropped), n_rows=n_rows)


def archive_listing(ws):
    return sorted(p.name for p in ws.archive_dir.iterdir())


# --------------------------------------------------------------------------- init / open / keys

def test_init_creates_layout_and_refuses_to_overwrite(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    key_file = ws.root / "secrets" / "pseudonym.key"
    assert ws.db_path.is_file() and ws.archive_dir.is_dir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    settings = json.loads((ws.root / "settings.json").read_text())
    assert settings["key_file"] == "secrets/pseudonym.key"
    assert settings["schema_version"] == store_mod.SCHEMA_VERSION
    assert key_file.read_text().strip() not in ws.db_path.read_bytes().decode("latin-1")
    with pytest.raises(WorkspaceError, match="already exists"):
        Workspace.init(tmp_path / "ws")
    assert Workspace.open(tmp_path / "ws").content_hash() == ws.content_hash()


def test_workspace_path_from_argument_environment_or_default(tmp_path, monkeypatch):
    Workspace.init(tmp_path / "envws")
    monkeypatch.setenv(store_mod.WORKSPACE_ENV, str(tmp_path / "envws"))
    assert Workspace.open().root == (tmp_path / "envws").resolve()
    monkeypatch.delenv(store_mod.WORKSPACE_ENV)
    monkeypatch.chdir(tmp_path)
    created = Workspace.init()
    assert created.root == (tmp_path / "data").resolve()
    assert Workspace.open().root == created.root
    with pytest.raises(WorkspaceError, match="no workspace"):
        Workspace.open(tmp_path / "missing")


def test_key_from_environment_is_never_written(tmp_path, monkeypatch):
    key = generate_key()
    monkeypatch.setenv(KEY_ENV, key.hex())
    ws = Workspace.init(tmp_path / "ws")
    assert not (ws.root / "secrets").exists()
    assert Workspace.open(tmp_path / "ws").pseudonymizer.fingerprint == ws.pseudonymizer.fingerprint
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(PseudonymKeyError, match=KEY_ENV):
        Workspace.open(tmp_path / "ws")
    assert Workspace.open(tmp_path / "ws", key=key).root == ws.root
    assert Workspace.open(tmp_path / "ws", key=key.hex()).root == ws.root
    wrong = generate_key().hex()
    with pytest.raises(PseudonymKeyError) as err:
        Workspace.open(tmp_path / "ws", key=wrong)
    assert wrong not in str(err.value)


def test_key_file_outside_the_workspace(tmp_path):
    outside = tmp_path / "vault" / "culture.key"
    ws = Workspace.init(tmp_path / "ws", key_file=outside)
    assert outside.exists() and not (ws.root / "secrets").exists()
    assert Workspace.open(tmp_path / "ws").root == ws.root  # found through settings.json


def test_changed_or_missing_key_is_a_clear_error(tmp_path, ws, mini):
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 4))), mini, wave=WAVE)
    before = ws.content_hash()
    with pytest.raises(PseudonymKeyError, match="does not match"):
        Workspace.open(ws.root, key=generate_key())
    key_file = ws.root / "secrets" / "pseudonym.key"
    os.chmod(key_file, 0o644)
    with pytest.raises(PseudonymKeyError, match="0644"):
        Workspace.open(ws.root)
    key_file.unlink()
    with pytest.raises(PseudonymKeyError, match="not found"):
        Workspace.open(ws.root)
    assert ws.content_hash() == before


# --------------------------------------------------------------------------- basic import

def test_import_pseudonymises_archives_and_round_trips(tmp_path, ws, mini):
    acc = responses_frame(range(1, 9))
    p = parsed(tmp_path, acc)
    report = ws.ingest_parsed(p, mini, wave=WAVE)
    assert isinstance(report, ImportReport) and report.ok and not report.no_op
    assert (report.rows_in, report.accepted, report.new, report.rejected,
            report.duplicates) == (8, 8, 8, 0, 0)
    assert report.dropped_columns == ("IPAddress",)
    assert "import #1" in report.summary()

    out = ws.responses(WAVE)
    pz = ws.pseudonymizer
    assert list(out.columns[:8]) == ["response_id", "respondent", "wave", "unit_id",
                                     "started_at", "submitted_at", "duration_s", "finished"]
    assert out["respondent"].tolist() == pz.hash(acc["respondent"]).tolist()
    assert out["response_id"].tolist() == pz.hash(acc["response_id"], domain="response").tolist()
    assert not set(out["respondent"]) & set(acc["respondent"])
    expected = acc.drop(columns=["response_id", "respondent", "source_row"]).assign(wave=WAVE)
    got = out.drop(columns=["response_id", "respondent"])[expected.columns]
    def same_missing(frame):  # None vs NaN is a dtype detail, not a difference in content
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(same_missing(got), same_missing(expected), check_dtype=False)
    assert out["L1"].dtype == "float64" and out["started_at"].dtype == "datetime64[ns]"

    ledger = ws.imports()
    assert len(ledger) == 1
    row = ledger.iloc[0]
    assert (row["kind"], row["format"], row["instrument_id"], row["instrument_version"],
            row["wave"]) == ("responses", "csv", "mini", "1.0", WAVE)
    assert row["rows_in"] == row["accepted"] + row["rejected"] + row["duplicates"] == 8
    archived = ws.root / row["archived_as"]
    assert archived.name == f"{report.sha256}.csv"
    assert archived.read_bytes() == open(p.source, "rb").read()
    assert stat.S_IMODE(archived.stat().st_mode) == 0o400
    assert ws.waves() == [WAVE]


def test_sha256_of_known_file(tmp_path, ws, mini):
    # FIPS 180-2, Appendix B.1: SHA-256("abc") =
    # ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad (exact)
    raw = tmp_path / "abc.csv"
    raw.write_bytes(b"abc")
    p = parsed(tmp_path, responses_frame([1]), name="other.csv")
    p = ParsedResponses(str(raw), p.format, p.accepted, p.rejected, p.duplicates, (), p.n_rows)
    report = ws.ingest_parsed(p, mini, wave=WAVE)
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert report.sha256 == sha and ws.imports()["sha256"].tolist() == [sha]
    assert archive_listing(ws) == [f"{sha}.csv"]


def test_timestamps_kept_to_the_microsecond(tmp_path, ws, mini):
    acc = responses_frame([1, 2])
    acc["started_at"] = pd.to_datetime(["2026-02-02 09:00:00.123456789", None])
    ws.ingest_parsed(parsed(tmp_path, acc), mini, wave=WAVE)
    got = ws.responses(WAVE)["started_at"]
    assert got.iloc[0] == pd.Timestamp("2026-02-02 09:00:00.123457")  # DuckDB keeps us
    assert pd.isna(got.iloc[1])


def test_anonymous_survey_and_instrument_columns(tmp_path, ws, mini):
    acc = responses_frame([1, 2, 3]).drop(columns=["C1", "comment"]).assign(respondent=None)
    ws.ingest_parsed(parsed(tmp_path, acc), mini, wave=WAVE)
    out = ws.responses(WAVE, instrument=mini)
    assert out["respondent"].isna().all()
    assert out["C1"].isna().all() and out["comment"].isna().all()  # filled from the instrument
    assert "C1" not in ws.responses(WAVE).columns


def test_unknown_column_is_refused_with_nothing_written(tmp_path, ws, mini):
    acc = responses_frame([1, 2]).assign(RecipientEmail=["a@x.org", "b@x.org"])
    before = ws.content_hash()
    with pytest.raises(ValidationError, match="RecipientEmail") as err:
        ws.ingest_parsed(parsed(tmp_path, acc), mini, wave=WAVE)
    assert "a@x.org" not in str(err.value)
    assert ws.content_hash() == before and archive_listing(ws) == []


def test_bad_wave_and_instrument_arguments(tmp_path, ws, mini):
    p = parsed(tmp_path, responses_frame([1]))
    with pytest.raises(ConfigError, match="YYYYQn"):
        ws.ingest_parsed(p, mini, wave="2026-Q1")
    other = responses_frame([1]).assign(wave="2025Q4")
    with pytest.raises(ValidationError, match="another wave"):
        ws.ingest_parsed(parsed(tmp_path, other, name="w.csv"), mini, wave=WAVE)
    with pytest.raises(ConfigError, match="no responses"):
        ws.responses("2030Q1")


# --------------------------------------------------------------------------- re-imports, versions

def test_same_file_again_is_a_no_op(tmp_path, ws, mini):
    p = parsed(tmp_path, responses_frame(range(1, 6)))
    first = ws.ingest_parsed(p, mini, wave=WAVE)
    before = ws.content_hash()
    again = ws.ingest_parsed(p, mini, wave=WAVE)
    assert again.no_op and again.import_id == first.import_id
    assert "already imported" in again.summary() and "nothing changed" in again.summary()
    assert ws.content_hash() == before
    with pytest.raises(ImportConflictError, match="wave='2026Q1'"):
        ws.ingest_parsed(p, mini, wave="2026Q2")  # same bytes as another wave: refuse
    assert ws.content_hash() == before


def test_late_responses_add_only_new_rows(tmp_path, ws, mini):
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 6)), name="a.csv"), mini,
                     wave=WAVE)
    later = responses_frame(range(1, 9))  # same export re-downloaded with 3 late responses
    report = ws.ingest_parsed(parsed(tmp_path, later, name="b.csv"), mini, wave=WAVE)
    assert (report.rows_in, report.new, report.already_stored, report.duplicates,
            report.accepted, report.superseded) == (8, 3, 5, 5, 3, 0)
    out = ws.responses(WAVE)
    assert len(out) == 8
    assert set(out["response_id"]) == set(
        ws.pseudonymizer.hash(later["response_id"], domain="response"))
    ledger = ws.imports()
    assert (ledger["rows_in"] == ledger["accepted"] + ledger["rejected"]
            + ledger["duplicates"]).all()


def test_changed_response_is_a_conflict_listing_rows_not_values(tmp_path, ws, mini):
    first = responses_frame(range(1, 6))
    ws.ingest_parsed(parsed(tmp_path, first, name="a.csv"), mini, wave=WAVE)
    before, files = ws.content_hash(), archive_listing(ws)
    changed = first.copy()
    changed.loc[2, "comment"] = "PLANTED-SECRET-REMARK"  # source row 4
    changed.loc[4, "L1"] = changed.loc[4, "L1"] % 5 + 1   # source row 6: another code
    with pytest.raises(ImportConflictError) as err:
        ws.ingest_parsed(parsed(tmp_path, changed, name="b.csv"), mini, wave=WAVE)
    message = str(err.value)
    assert "source rows 4, 6" in message and "supersede" in message
    assert "PLANTED-SECRET-REMARK" not in message and "E1003" not in message
    assert ws.content_hash() == before and archive_listing(ws) == files

    dry = ws.ingest_parsed(parsed(tmp_path, changed, name="b.csv"), mini, wave=WAVE,
                           dry_run=True)
    assert not dry.ok and dry.conflicts == 2 and dry.already_stored == 3
    assert ws.content_hash() == before


def test_supersede_keeps_the_old_version(tmp_path, ws, mini):
    first = responses_frame(range(1, 6))
    one = ws.ingest_parsed(parsed(tmp_path, first, name="a.csv"), mini, wave=WAVE)
    changed = first.copy()
    changed.loc[2, "L2"] = changed.loc[2, "L2"] % 5 + 1
    two = ws.ingest_parsed(parsed(tmp_path, changed, name="b.csv"), mini, wave=WAVE,
                           supersede=True)
    assert (two.superseded, two.new, two.accepted, two.already_stored) == (1, 0, 1, 4)
    target = ws.pseudonymizer.hash_one("R_00003", domain="response")
    out = ws.responses(WAVE).set_index("response_id")
    assert len(out) == 5 and out.loc[target, "L2"] == changed.loc[2, "L2"]
    with duckdb.connect(str(ws.db_path), read_only=True) as con:
        versions = con.execute(
            "SELECT version, current, superseded_by, import_id FROM responses "
            "WHERE response_id = ? ORDER BY version", [target]).fetchall()
    assert versions == [(1, False, two.import_id, one.import_id),
                        (2, True, None, two.import_id)]
    assert ws.status()["waves"]["superseded_versions"].tolist() == [1]


# --------------------------------------------------------------------------- rejected rows

def rejected_frame(rows):
    return pd.DataFrame({"source_row": [r for r, _, _, _ in rows],
                         "column": [c for _, c, _, _ in rows],
                         "kind": [k for _, _, k, _ in rows],
                         "reason": [m for _, _, _, m in rows]})


def test_invalid_rows_fail_the_import_unless_accept_valid(tmp_path, ws, mini):
    acc = responses_frame(range(1, 5))  # source rows 2..5
    rej = rejected_frame([(6, "L1", "invalid", "code outside the scale 1..5"),
                          (6, "C1", "invalid", "code outside the scale 1..5"),
                          (7, "unit_id", "invalid", "unit is not in the org chart"),
                          (8, None, "excluded", "Qualtrics preview response")])
    dup = pd.DataFrame({"source_row": [9], "duplicate_of": [3]})
    p = parsed(tmp_path, acc, rejected=rej, duplicates=dup)
    assert p.n_rows == 8
    before = ws.content_hash()
    with pytest.raises(ValidationError) as err:
        ws.ingest_parsed(p, mini, wave=WAVE)
    assert len(err.value.problems) == 3  # every invalid cell, the excluded row is not one
    assert {str(x.where) for x in err.value.problems} == {"row 6, column L1", "row 6, column C1",
                                                          "row 7, column unit_id"}
    assert ws.content_hash() == before and archive_listing(ws) == []

    report = ws.ingest_parsed(p, mini, wave=WAVE, accept_valid=True)
    assert (report.rows_in, report.accepted, report.rejected, report.excluded,
            report.duplicates) == (8, 4, 3, 1, 1)
    rejections = ws.rejections(report.import_id)
    assert sorted(rejections["kind"]) == ["duplicate", "excluded", "invalid", "invalid",
                                          "invalid"]
    assert set(rejections["import_id"]) == {report.import_id}
    assert rejections.loc[rejections["kind"] == "duplicate", "reason"].item() == \
        "repeats the response id of row 3"
    assert ws.status()["rejected_rows"] == 3
    assert len(ws.responses(WAVE)) == 4


def test_excluded_rows_never_fail_and_are_recorded(tmp_path, ws, mini):
    rej = rejected_frame([(6, None, "excluded", "survey preview"),
                          (7, None, "excluded", "spam (recaptcha score)")])
    report = ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 5)), rejected=rej),
                              mini, wave=WAVE)
    assert report.ok and (report.accepted, report.rejected, report.excluded) == (4, 2, 2)
    assert ws.rejections()["source_row"].tolist() == [6, 7]
    # a file of nothing but excluded rows still lands (ledger row, rejections, no responses)
    only = rejected_frame([(2, None, "excluded", "survey preview")])
    empty = responses_frame([1]).iloc[:0]
    report = ws.ingest_parsed(parsed(tmp_path, empty, rejected=only, name="previews.csv"),
                              mini, wave="2026Q2")
    assert (report.rows_in, report.accepted, report.excluded) == (1, 0, 1)
    assert ws.imports()["wave"].tolist() == [WAVE, "2026Q2"]


def test_dry_run_reports_without_writing(tmp_path, ws, mini):
    rej = rejected_frame([(6, "L2", "invalid", "not an answer code")])
    p = parsed(tmp_path, responses_frame(range(1, 5)), rejected=rej)
    before = ws.content_hash()
    report = ws.ingest_parsed(p, mini, wave=WAVE, dry_run=True)
    assert report.dry_run and report.import_id is None and not report.ok
    assert (report.rows_in, report.new, report.rejected) == (5, 4, 1)
    assert "Dry run" in report.summary() and "row 6, column L2" in report.summary()
    assert ws.content_hash() == before and archive_listing(ws) == []


def test_rows_that_do_not_add_up_are_refused(tmp_path, ws, mini):
    before = ws.content_hash()
    p = parsed(tmp_path, responses_frame(range(1, 5)), n_rows=5)  # one row lost by a reader
    with pytest.raises(AccountingError, match="rows in 5 != accepted 4"):
        ws.ingest_parsed(p, mini, wave=WAVE, accept_valid=True)
    twice = rejected_frame([(3, "L1", "invalid", "bad")])  # row 3 both accepted and rejected
    with pytest.raises(AccountingError, match="counted twice"):
        ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 5)), rejected=twice,
                                n_rows=4, name="x.csv"), mini, wave=WAVE)
    assert ws.content_hash() == before and archive_listing(ws) == []


def test_ledger_refuses_counts_that_do_not_add_up(ws):
    row = {"source": "x.csv", "rows_in": 10, "accepted": 6, "rejected": 2, "duplicates": 1,
           "new": 6, "superseded": 0}
    with duckdb.connect(str(ws.db_path)) as con, pytest.raises(AccountingError):
        response_import.write_ledger(con, row)
    # and the database enforces it too (CHECK constraint), should the check be bypassed
    with duckdb.connect(str(ws.db_path)) as con:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO imports VALUES (1, 'responses', 'x', 's', 'a', 'csv', NULL, "
                        "NULL, NULL, NULL, now(), now(), 10, 6, 2, 1, 6, 0, '[]')")


# --------------------------------------------------------------------------- atomicity

@pytest.mark.parametrize("step", ["write_responses", "write_values", "write_rejections",
                                  "archive_file"])
def test_failure_half_way_leaves_the_store_unchanged(tmp_path, ws, mini, monkeypatch, step):
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 4)), name="a.csv"), mini,
                     wave=WAVE)
    before, files = ws.content_hash(), archive_listing(ws)
    seen = {}
    module = archive if step == "archive_file" else response_import
    real = getattr(module, step)

    def failing(*args, **kwargs):
        if step != "archive_file":
            real(*args, **kwargs)
            con = args[0]
            seen["imports"] = con.execute("SELECT count(*) FROM imports").fetchall()[0][0]
            seen["responses"] = con.execute("SELECT count(*) FROM responses").fetchall()[0][0]
        raise RuntimeError(f"disk full during {step}")

    monkeypatch.setattr(module, step, failing)
    late = responses_frame(range(1, 8))
    rej = rejected_frame([(20, None, "excluded", "preview")])
    with pytest.raises(RuntimeError, match="disk full"):
        ws.ingest_parsed(parsed(tmp_path, late, name="b.csv", rejected=rej), mini, wave=WAVE)
    if seen:  # the step really ran after the ledger row and the new responses were inserted
        assert seen == {"imports": 2, "responses": 7}
    assert ws.content_hash() == before
    assert archive_listing(ws) == files
    assert len(ws.imports()) == 1 and len(ws.responses(WAVE)) == 3


def test_file_changing_during_import_is_caught(tmp_path, ws, mini, monkeypatch):
    p = parsed(tmp_path, responses_frame(range(1, 4)))
    real = response_import.write_values

    def tamper(*args, **kwargs):
        real(*args, **kwargs)
        with open(p.source, "a", encoding="utf-8") as fh:
            fh.write("late edit\n")

    monkeypatch.setattr(response_import, "write_values", tamper)
    before = ws.content_hash()
    with pytest.raises(WorkspaceError, match="changed while it was being imported"):
        ws.ingest_parsed(p, mini, wave=WAVE)
    assert ws.content_hash() == before and archive_listing(ws) == []


# --------------------------------------------------------------------------- confidentiality

def test_raw_ids_never_reach_the_database_file(tmp_path, ws, mini):
    acc = responses_frame(range(1, 31))
    acc.loc[7, "respondent"] = "EMPPLANTED4417"
    acc.loc[7, "response_id"] = "RPLANTEDRESP9921"
    acc.loc[7, "unit_id"] = "UNITCANARY5501"  # stored as is: proves the scan can see text
    rej = rejected_frame([(40, "L1", "invalid", "code outside the scale")])
    ws.ingest_parsed(parsed(tmp_path, acc, rejected=rej), mini, wave=WAVE, accept_valid=True)
    _record(ws, tmp_path, ws.responses(WAVE))
    files = [p for p in ws.root.iterdir() if p.name.startswith("culture.duckdb")]
    blob = b"".join(p.read_bytes() for p in files)
    assert b"UNITCANARY5501" in blob
    for raw in ("EMPPLANTED4417", "RPLANTEDRESP9921", *acc["respondent"], *acc["response_id"]):
        assert raw.encode() not in blob, raw
    # the same through SQL, immune to on-disk compression: no text column holds a raw id
    with duckdb.connect(str(ws.db_path), read_only=True) as con:
        cols = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema = 'main' AND data_type = 'VARCHAR'").fetchall()
        for table, column in cols:
            hits = con.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE ? '
                               f'OR "{column}" LIKE ?',
                               ["%EMPPLANTED4417%", "%RPLANTEDRESP9921%"]).fetchall()[0][0]
            assert hits == 0, (table, column)


def _record(ws, tmp_path, responses, *, thresholds=None):
    """Record a stand-in release (a folder with a manifest) for these responses."""
    folder = tmp_path / f"release-{len(ws.releases(WAVE))}"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": "culture-release"}')
    return ws.record_release(
        WAVE, release_dir=folder, thresholds=thresholds or {"scores": 5, "distributions": 10},
        demographic=None, instrument="mini 1", inputs_key="k",
        org=pd.DataFrame({"unit_id": ["ORG"], "parent_id": [None]}),
        members=responses[["respondent", "response_key"]], audit={"passed": True})


def test_release_ledger(tmp_path, ws, mini):
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 13))), mini, wave=WAVE)
    current = ws.responses(WAVE)
    first = _record(ws, tmp_path, current)
    second = _record(ws, tmp_path, current.iloc[:10])
    assert (first, second) == (1, 2)
    records = ws.releases(WAVE)
    assert [r.release_id for r in records] == [1, 2]
    assert dict(records[0].thresholds) == {"distributions": 10, "scores": 5}
    assert set(records[0].members["respondent"]) == set(current["respondent"])
    assert set(records[0].members["response_key"]) == set(current["response_key"])
    assert len(records[0].members) - len(records[1].members) == 2
    # the stored release is a copy inside the workspace, with its hash
    assert records[0].stored_as.is_relative_to(ws.root) and (records[0].stored_as / "manifest.json").exists()
    assert ws.releases("2025Q4") == []
    before = ws.content_hash()
    bad = current[["respondent", "response_key"]].copy()
    bad.loc[0, "respondent"] = "E1001"
    with pytest.raises(ConfigError, match="pseudonyms") as err:
        ws.record_release(WAVE, release_dir=tmp_path, thresholds={"scores": 5}, demographic=None,
                          instrument="mini 1", inputs_key="k", org=records[0].org, members=bad,
                          audit={})
    assert "E1001" not in str(err.value)
    with pytest.raises(ConfigError, match="threshold 'scores'"):
        _record(ws, tmp_path, current, thresholds={"scores": -1})
    assert ws.content_hash() == before


def test_a_withdrawn_wave_keeps_its_versions(tmp_path, ws, mini):
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 13))), mini, wave=WAVE)
    keys = ws.responses(WAVE)["response_key"].tolist()
    assert ws.withdraw(WAVE, reason="imported the wrong file") == 12
    assert WAVE not in ws.waves()
    with pytest.raises(ConfigError, match="no responses"):
        ws.responses(WAVE)
    # what an earlier release showed can still be rebuilt from the stored versions
    assert sorted(ws.responses_by_key(keys)["response_key"]) == sorted(keys)
    with pytest.raises(ConfigError, match="no current responses"):
        ws.withdraw(WAVE, reason="again")


# --------------------------------------------------------------------------- other registers

def _source(tmp_path, name, frame):
    path = tmp_path / name
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    return path


def org_frame(units, wave):
    return pd.DataFrame({"wave": wave, "unit_id": [u for u, _ in units],
                         "parent_id": [p for _, p in units],
                         "name": [f"Unit {u}" for u, _ in units],
                         "level": [0 if p is None else 1 for _, p in units]})


def test_org_tree_in_force_at_a_wave(tmp_path, ws):
    first = org_frame([("ORG", None), ("U-A", "ORG")], "2025Q3")
    second = org_frame([("ORG", None), ("U-A", "ORG"), ("U-B", "ORG")], "2026Q1")
    fixed = org_frame([("ORG", None), ("U-B", "ORG")], "2026Q1")
    for name, frame in (("o1.csv", first), ("o2.csv", second), ("o3.csv", fixed)):
        ws.ingest_table(frame, kind="org", source=_source(tmp_path, name, frame),
                        wave=frame["wave"].iloc[0])
    assert ws.org("2025Q4")["unit_id"].tolist() == ["ORG", "U-A"]      # latest wave <= 2025Q4
    now = ws.org("2026Q2")
    assert now["unit_id"].tolist() == ["ORG", "U-B"]                   # latest import of 2026Q1
    assert now.attrs["org_wave"] == "2026Q1" and (now["wave"] == "2026Q2").all()
    assert now["parent_id"].tolist() == [None, "ORG"]
    with pytest.raises(ConfigError, match="no org chart"):
        ws.org("2025Q1")


def test_register_validation_and_no_op(tmp_path, ws):
    orphan = org_frame([("ORG", None), ("U-A", "NOPE")], "2026Q1")
    before = ws.content_hash()
    with pytest.raises(ValidationError, match="parent unit"):
        ws.ingest_table(orphan, kind="org", source=_source(tmp_path, "bad.csv", orphan),
                        wave="2026Q1")
    hc = pd.DataFrame({"unit_id": ["U-A", "U-B"], "invited": [12, 9], "manager": ["x", "y"]})
    path = _source(tmp_path, "hc.csv", hc)
    report = ws.ingest_table(hc, kind="headcount", source=path, wave=WAVE)
    assert report.dropped_columns == ("manager",) and report.accepted == 2
    assert ws.headcount(WAVE)["invited"].tolist() == [12, 9]
    middle = ws.content_hash()
    assert middle != before
    assert ws.ingest_table(hc, kind="headcount", source=path, wave=WAVE).no_op
    assert ws.content_hash() == middle
    with pytest.raises(ConfigError, match="kind must be one of"):
        ws.ingest_table(hc, kind="people", source=path)
    # An unchanged headcount file is a new import for the next wave, not a conflict.
    nxt = ws.ingest_table(hc, kind="headcount", source=path, wave="2026Q2")
    assert not nxt.no_op and ws.headcount("2026Q2")["invited"].tolist() == [12, 9]


def test_quality_events_latest_version_wins(tmp_path, ws):
    q1 = pd.DataFrame({"event_id": ["NC-1", "NC-2"], "unit_id": ["U-A", "U-B"],
                       "opened": pd.to_datetime(["2026-01-05", "2026-02-01"]),
                       "closed": [pd.NaT, pd.NaT], "due": pd.to_datetime(["2026-02-05", None]),
                       "severity": ["minor", "major"], "detected": ["internal", "customer"]})
    q2 = q1.copy()
    q2["closed"] = pd.to_datetime(["2026-01-20", None])
    q2.loc[2] = ["NC-3", "U-A", pd.Timestamp("2026-03-01"), pd.NaT, pd.NaT, None, None]
    for name, frame in (("nc1.csv", q1), ("nc2.csv", q2)):
        ws.ingest_table(frame, kind="quality", quality_kind="nonconformity",
                        source=_source(tmp_path, name, frame))
    events = ws.quality_events("nonconformity")
    assert events["event_id"].tolist() == ["NC-1", "NC-2", "NC-3"]
    assert events.loc[0, "closed"] == pd.Timestamp("2026-01-20")
    assert (events["kind"] == "nonconformity").all()
    assert ws.quality_events("complaint").empty
    bad = q1.assign(severity=["minor", "catastrophic"])
    with pytest.raises(ValidationError, match="severity"):
        ws.ingest_table(bad, kind="quality", quality_kind="nonconformity",
                        source=_source(tmp_path, "bad.csv", bad))
    with pytest.raises(ConfigError, match="quality kind"):
        ws.quality_events("defect")


def test_exposure_latest_import_wins(tmp_path, ws):
    e1 = pd.DataFrame({"unit_id": ["U-A", "U-B"], "quarter": ["2026Q1", "2026Q1"],
                       "exposure": [1000.0, 800.0], "exposure_kind": "units"})
    e2 = e1.iloc[:1].assign(exposure=1100.0)
    for name, frame in (("e1.csv", e1), ("e2.csv", e2)):
        ws.ingest_table(frame, kind="exposure", source=_source(tmp_path, name, frame))
    assert ws.exposure()["exposure"].tolist() == [1100.0, 800.0]
    assert ws.status()["imports"] == 2


# --------------------------------------------------------------------------- linkage across waves

def test_people_link_across_waves_as_planted_by_synth(tmp_path, ws, small_org):
    """Known truth from ``culture.synth``: the same employees answer several waves.

    The number of employees answering both waves (raw ids, before the store)
    must equal the number of shared pseudonyms after the store.
    """
    inst = small_org.instrument
    waves = small_org.waves[:2]
    raw_sets = []
    for k, wave in enumerate(waves):
        resp = small_org.responses_of(wave)
        resp = resp.drop_duplicates("response_id").reset_index(drop=True)
        acc = resp.assign(source_row=np.arange(2, len(resp) + 2))
        ws.ingest_parsed(parsed(tmp_path, acc, name=f"w{k}.csv"), inst, wave=wave)
        raw_sets.append(set(resp["respondent"].dropna()))
    stored = [set(ws.responses(w)["respondent"].dropna()) for w in waves]
    assert len(stored[0] & stored[1]) == len(raw_sets[0] & raw_sets[1]) > 0
    assert ws.waves() == list(waves)
    status = ws.status()["waves"]
    assert status["responses"].tolist() == [len(small_org.responses_of(w)
                                                 .drop_duplicates("response_id")) for w in waves]


# --------------------------------------------------------------------------- culture.io

def test_ingest_a_csv_export_through_culture_io(tmp_path, ws):
    from culture import ingest as io

    inst = parse_instrument(INSTRUMENT_DOC)
    acc = responses_frame(range(1, 7)).drop(columns=["wave", "source_row"])
    acc.loc[2, "respondent"] = "EMPPLANTED0001"
    path = tmp_path / "plain.csv"
    acc.to_csv(path, index=False)
    parsed_file = io.read_responses(path, inst, fmt="csv")
    report = ws.ingest_responses(path, inst, wave=WAVE, fmt="csv", accept_valid=True)
    assert report.rows_in == parsed_file.n_rows == 6
    assert report.rows_in == report.accepted + report.rejected + report.duplicates
    out = ws.responses(WAVE)
    assert len(out) == report.accepted
    assert "EMPPLANTED0001" not in set(out["respondent"])
    assert ws.pseudonymizer.hash_one("EMPPLANTED0001") in set(out["respondent"])
    again = ws.ingest_responses(path, inst, wave=WAVE, fmt="csv")
    assert again.no_op and again.import_id == report.import_id
    org = tmp_path / "org.csv"
    org.write_text("unit_id,parent_id,name\nORG,,Company\nU-A,ORG,Assembly\nU-B,ORG,Quality\n")
    assert ws.ingest_org(org, wave=WAVE).accepted == 3
    tree = ws.org(WAVE)
    assert tree.set_index("unit_id")["parent_id"].to_dict() == {"ORG": None, "U-A": "ORG",
                                                                "U-B": "ORG"}
    assert tree.set_index("unit_id")["level"].to_dict() == {"ORG": 0, "U-A": 1, "U-B": 1}


def test_a_schema_1_workspace_is_migrated_and_keeps_its_releases(tmp_path, mini):
    """A workspace written by culture 0.1 (schema 1) opens; its releases read as legacy."""
    ws = Workspace.init(tmp_path / "old")
    with duckdb.connect(str(ws.db_path)) as con:  # turn it back into schema 1's release tables
        con.execute("DROP TABLE release_members; DROP TABLE withdrawals; DROP TABLE releases")
        con.execute("ALTER TABLE responses DROP COLUMN withdrawn_by")
        con.execute("CREATE TABLE releases (release_id INTEGER PRIMARY KEY, wave VARCHAR NOT NULL, "
                    "created TIMESTAMP NOT NULL, thresholds VARCHAR NOT NULL)")
        con.execute("CREATE TABLE release_cells (release_id INTEGER NOT NULL, cell_id VARCHAR "
                    "NOT NULL, n INTEGER NOT NULL, respondent_set_hash VARCHAR)")
        con.execute("CREATE TABLE release_respondents (release_id INTEGER NOT NULL, respondent "
                    "VARCHAR NOT NULL)")
        con.execute("INSERT INTO releases VALUES (1, ?, now(), '{\"scores\": 5}')", [WAVE])
        con.execute("INSERT INTO release_respondents VALUES (1, ?)", ["ab" * 32])
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version VALUES (1, now())")
    again = Workspace.open(ws.root)
    (record,) = again.releases(WAVE)
    assert record.legacy and record.members["respondent"].tolist() == ["ab" * 32]
    assert again.status()["schema_version"] == store_mod.SCHEMA_VERSION
    assert json.loads((ws.root / "settings.json").read_text())["schema_version"] == \
        store_mod.SCHEMA_VERSION
