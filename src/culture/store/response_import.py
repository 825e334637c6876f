"""One response import, step by step: accounting, pseudonymising, planning, writing.

The ``write_*`` steps are module-level so tests can make one fail half-way and
show that the transaction leaves the store unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from culture import frames as F
from culture.errors import AccountingError, Problem
from culture.measure.instrument import Instrument
from culture.store.db import insert_frame, next_id
from culture.store.pseudonym import RESPONDENT_DOMAIN, RESPONSE_DOMAIN, Pseudonymizer
from culture.store.schema import RESPONSE_META

ERROR_LIMIT = 200  # rows listed in one message


# The steps of one response import. Module-level so tests can make one fail
# half-way and show that the transaction leaves the store unchanged.
def write_ledger(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    rows_in, acc, rej, dup = (row[k] for k in ("rows_in", "accepted", "rejected", "duplicates"))
    if rows_in != acc + rej + dup or acc != row["new"] + row["superseded"]:
        raise AccountingError(f"{row['source']}: refusing to write the ledger: rows in {rows_in} "
                              f"!= accepted {acc} + rejected {rej} + duplicates {dup}")
    insert_frame(con, "imports", pd.DataFrame([dict(row)]))


def write_responses(con: duckdb.DuckDBPyConnection, meta: pd.DataFrame,
                     superseded_keys: np.ndarray, import_id: int) -> None:
    if len(superseded_keys):
        name = f"old_{uuid.uuid4().hex}"
        con.register(name, pd.DataFrame({"response_key": superseded_keys.astype("int64")}))
        try:
            con.execute(f"UPDATE responses SET current = false, superseded_by = ? "
                        f"WHERE response_key IN (SELECT response_key FROM {name})", [import_id])
        finally:
            con.unregister(name)
    insert_frame(con, "responses", meta)


def write_values(con: duckdb.DuckDBPyConnection, answers: pd.DataFrame,
                  texts: pd.DataFrame, columns: pd.DataFrame) -> None:
    insert_frame(con, "answers", answers)
    insert_frame(con, "texts", texts)
    insert_frame(con, "response_columns", columns)


def write_rejections(con: duckdb.DuckDBPyConnection, rejections: pd.DataFrame) -> None:
    insert_frame(con, "rejections", rejections)



# ----------------------------------------------------------------------------- frame helpers

def as_text(values: pd.Series, *, strip: bool = True) -> pd.Series:
    """Object column of str / None; whole-number floats become integers (``101.0`` -> ``"101"``)."""
    present = values.notna()
    out = pd.Series(None, index=values.index, dtype=object)
    if not present.any():
        return out
    vals = values[present]
    text = vals.astype(str)
    if pd.api.types.is_float_dtype(vals):
        whole = vals % 1 == 0
        text[whole] = vals[whole].astype("int64").astype(str)
    if strip:
        text = text.str.strip()
    out[present] = text.to_numpy(dtype=object)
    return out


def text_with_none(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Text columns as object with None for missing, as :mod:`culture.frames` documents."""
    out = frame.copy()
    for c in columns:
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def as_timestamp(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive-UTC ``datetime64[us]`` rounded to microseconds (what DuckDB keeps), and a bad mask."""
    if pd.api.types.is_datetime64_any_dtype(values):
        converted = pd.to_datetime(values, utc=True)
    else:  # text: ISO 8601 only, so a day/month swap can never pass silently
        converted = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    bad = values.notna() & converted.isna()
    out = converted.dt.tz_localize(None).dt.round("us").astype("datetime64[us]")
    return out, bad


def _rows_where(source_rows: pd.Series, mask: pd.Series) -> list[int]:
    return sorted(int(r) for r in source_rows[mask].tolist())


def count_rows(frame: pd.DataFrame) -> int:
    return int(frame[F.SOURCE_ROW].nunique()) if len(frame) else 0


def row_list(rows: Iterable[int], limit: int = ERROR_LIMIT) -> str:
    rows = list(rows)
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f" ... and {len(rows) - limit} more" if len(rows) > limit else "")


def check_accounting(parsed: F.ParsedResponses) -> None:
    """Every data row is accepted, rejected or a duplicate: exactly one of them."""
    problems = []
    for name, frame, cols in (("accepted", parsed.accepted, (F.SOURCE_ROW,)),
                              ("rejected", parsed.rejected,
                               (F.SOURCE_ROW, "column", "kind", "reason")),
                              ("duplicates", parsed.duplicates, (F.SOURCE_ROW, "duplicate_of"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            problems.append(f"{name} frame lacks column(s) {', '.join(missing)}")
    if problems:
        raise AccountingError(f"{parsed.source}: parsed responses do not follow the contract: "
                              + "; ".join(problems))
    acc = set(parsed.accepted[F.SOURCE_ROW].tolist())
    rej = set(parsed.rejected[F.SOURCE_ROW].tolist())
    dup = set(parsed.duplicates[F.SOURCE_ROW].tolist())
    if len(acc) != len(parsed.accepted):
        problems.append("a source row appears twice among accepted rows")
    if len(dup) != len(parsed.duplicates):
        problems.append("a source row appears twice among duplicates")
    overlap = (acc & rej) | (acc & dup) | (rej & dup)
    if overlap:
        problems.append(f"rows counted twice (accepted/rejected/duplicate): {row_list(sorted(overlap))}")
    kinds = set(parsed.rejected["kind"].tolist()) - {"invalid", "excluded"}
    if kinds:
        problems.append(f"rejection kind(s) {sorted(map(str, kinds))}; allowed: invalid, excluded")
    if not parsed.accounted():
        problems.append(f"rows in {parsed.n_rows} != accepted {len(acc)} + rejected {len(rej)} "
                        f"+ duplicates {len(dup)}")
    if problems:
        raise AccountingError(f"{parsed.source}: refusing to import, the rows do not add up: "
                              + "; ".join(problems))


@dataclass(frozen=True)
class _Prepared:
    """An accepted frame turned into what the store writes (keys are positions 0..n-1)."""

    meta: pd.DataFrame       # response_key(position), pseudonymised ids, wave, meta, source_row
    answers: pd.DataFrame    # response_key, item_id, value (answered items only)
    texts: pd.DataFrame      # response_key, column_id, value (non-missing only)
    columns: pd.DataFrame    # column_id, role, position
    problems: tuple[Problem, ...]


def prepare_responses(accepted: pd.DataFrame, instrument: Instrument, wave: str,
                       pz: Pseudonymizer) -> _Prepared:
    """Pseudonymise and split the accepted rows into long tables; collect every problem."""
    problems: list[Problem] = []
    cols = list(accepted.columns)
    src = accepted[F.SOURCE_ROW].astype("int64").reset_index(drop=True)
    df = accepted.reset_index(drop=True)
    for c in (*RESPONSE_META,):
        if c not in cols:
            problems.append(Problem(f"column {c}", "required canonical column is missing"))
    roles = {i: "item" for i in instrument.item_ids}
    roles.update({d.id: "demographic" for d in instrument.demographics})
    roles.update({c.id: "comment" for c in instrument.comments})
    known = {*F.META_COLUMNS, F.SOURCE_ROW}
    for c in cols:
        if c not in known and c not in roles:
            problems.append(Problem(f"column {c}", f"not a column of instrument {instrument.id} "
                                    f"{instrument.version}; refusing to store it (it may "
                                    f"identify people)"))
    if F.WAVE in cols:
        other = df[F.WAVE].notna() & (df[F.WAVE].astype(object) != wave)
        if other.any():
            problems.append(Problem("column wave", f"rows {row_list(_rows_where(src, other))} "
                                    f"belong to another wave than the one imported ({wave})"))
    if problems:
        return _Prepared(*(pd.DataFrame() for _ in range(4)), tuple(problems))

    rid = as_text(df[F.RESPONSE_ID])
    missing_id = rid.isna() | (rid == "")
    if missing_id.any():
        problems.append(Problem("column response_id",
                                f"rows {row_list(_rows_where(src, missing_id))} have no response id"))
    meta = pd.DataFrame({
        "response_key": np.arange(len(df), dtype="int64"),
        F.RESPONSE_ID: pz.hash(rid.where(~missing_id, None), domain=RESPONSE_DOMAIN),
        F.RESPONDENT: pz.hash(as_text(df[F.RESPONDENT]), domain=RESPONDENT_DOMAIN),
        F.WAVE: wave,
        F.UNIT: as_text(df[F.UNIT]),
    })
    for c in (F.STARTED, F.SUBMITTED):
        meta[c], bad = as_timestamp(df[c])
        if bad.any():
            problems.append(Problem(f"column {c}", f"rows {row_list(_rows_where(src, bad))} "
                                    "are not date-times"))
    duration = pd.to_numeric(df[F.DURATION], errors="coerce").astype("float64")
    bad = df[F.DURATION].notna() & duration.isna()
    if bad.any():
        problems.append(Problem(f"column {F.DURATION}", f"rows {row_list(_rows_where(src, bad))} "
                                "are not numbers"))
    meta[F.DURATION] = duration
    finished = df[F.FINISHED]
    if finished.isna().any() or not finished.isin([True, False, 0, 1]).all():
        problems.append(Problem(f"column {F.FINISHED}", "must be true/false in every row"))
    meta[F.FINISHED] = finished.fillna(False).astype(bool)
    meta[F.SOURCE_ROW] = src
    dup_ids = meta[F.RESPONSE_ID].duplicated(keep=False) & ~missing_id
    if dup_ids.any():
        raise AccountingError(f"response ids repeat among accepted rows "
                              f"{row_list(_rows_where(src, dup_ids))}; a reader must list "
                              "repeats as duplicates")

    present = [c for c in cols if c in roles]
    columns = pd.DataFrame({"column_id": present, "role": [roles[c] for c in present],
                            "position": np.arange(len(present), dtype="int32")})
    items = [c for c in present if roles[c] == "item"]
    values = {}
    for c in items:
        num = pd.to_numeric(df[c], errors="coerce").astype("float64")
        bad = df[c].notna() & num.isna()
        if bad.any():
            problems.append(Problem(f"column {c}", f"rows {row_list(_rows_where(src, bad))} "
                                    "are not answer codes"))
        values[c] = num
    answers = _melt(pd.DataFrame(values, index=df.index), meta["response_key"], "item_id")
    text_cols = [c for c in present if roles[c] != "item"]
    text_values = {c: as_text(df[c], strip=roles[c] == "demographic") for c in text_cols}
    texts = _melt(pd.DataFrame(text_values, index=df.index, dtype=object), meta["response_key"],
                  "column_id")
    return _Prepared(meta, answers, texts, columns, tuple(problems))


def _melt(wide: pd.DataFrame, keys: pd.Series, var: str) -> pd.DataFrame:
    if wide.shape[1] == 0:
        return pd.DataFrame({"response_key": pd.Series(dtype="int64"), var: pd.Series(dtype=object),
                             "value": pd.Series(dtype=object)})
    wide = wide.assign(response_key=keys.to_numpy())
    long = wide.melt(id_vars="response_key", var_name=var, value_name="value")
    return long[long["value"].notna()].reset_index(drop=True)


def _assemble_wide(meta: pd.DataFrame, answers: pd.DataFrame, texts: pd.DataFrame,
                   columns: pd.DataFrame) -> pd.DataFrame:
    """Canonical wide frame (index: response_key) from the long tables.

    Used both to read the store and to shape an incoming file, so the two
    compare like for like when checking whether a response changed.
    """
    out = pd.DataFrame(index=pd.Index(meta["response_key"].to_numpy(), name="response_key"))
    for c in F.META_COLUMNS:
        out[c] = meta[c].to_numpy()
    for c in (F.RESPONSE_ID, F.RESPONDENT, F.WAVE, F.UNIT):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    for c in (F.STARTED, F.SUBMITTED):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    out[F.DURATION] = out[F.DURATION].astype("float64")
    out[F.FINISHED] = out[F.FINISHED].astype(bool)
    order = columns.drop_duplicates("column_id")
    if len(answers):
        items = answers.pivot(index="response_key", columns="item_id", values="value")
        out = out.join(items.astype("float64"))
    if len(texts):
        txt = texts.pivot(index="response_key", columns="column_id", values="value")
        out = out.join(txt.astype(object))
    for c, role in zip(order["column_id"], order["role"], strict=True):
        if c not in out.columns:
            out[c] = np.nan if role == "item" else None
        elif role != "item":
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        else:
            out[c] = out[c].astype("float64")
    return out[[*F.META_COLUMNS, *order["column_id"]]].copy()


def _changed(new: pd.DataFrame, old: pd.DataFrame) -> pd.Series:
    """Per response id: does any value differ (missing equals missing)? Loops columns, not rows."""
    cols = sorted((set(new.columns) | set(old.columns)) - {F.RESPONSE_ID, F.WAVE})
    old = old.reindex(new.index)
    diff = pd.Series(False, index=new.index)
    for c in cols:
        a = new[c].astype(object) if c in new else pd.Series(None, index=new.index, dtype=object)
        b = old[c].astype(object) if c in old else pd.Series(None, index=new.index, dtype=object)
        same = (a == b).astype(bool) | (a.isna() & b.isna())
        diff |= ~same
    return diff



def stored_versions(con: duckdb.DuckDBPyConnection, instrument_id: str, wave: str,
                     ids: pd.Series) -> pd.DataFrame:
    """Current stored versions (wide, indexed by response_key) of the given pseudonymised ids."""
    name = f"ids_{uuid.uuid4().hex}"
    con.register(name, pd.DataFrame({"response_id": ids.to_numpy(dtype=object)}))
    try:
        where = (f"r.current AND r.instrument_id = ? AND r.wave = ? AND r.response_id IN "
                 f"(SELECT response_id FROM {name})")
        return read_wide(con, where, [instrument_id, wave], extra=("version",))
    finally:
        con.unregister(name)


def read_wide(con: duckdb.DuckDBPyConnection, where: str, params: list[Any],
               extra: tuple[str, ...] = ()) -> pd.DataFrame:
    sel = ", ".join(f"r.{c}" for c in ("response_key", *F.META_COLUMNS, *extra))
    meta = con.execute(f"SELECT {sel} FROM responses r WHERE {where} ORDER BY r.response_key",
                       params).df()
    answers = con.execute(f"SELECT a.response_key, a.item_id, a.value FROM answers a JOIN "
                          f"responses r USING (response_key) WHERE {where}", params).df()
    texts = con.execute(f"SELECT t.response_key, t.column_id, t.value FROM texts t JOIN "
                        f"responses r USING (response_key) WHERE {where}", params).df()
    columns = con.execute(
        f"SELECT column_id, any_value(role) AS role FROM response_columns WHERE import_id IN "
        f"(SELECT DISTINCT r.import_id FROM responses r WHERE {where}) "
        f"GROUP BY column_id ORDER BY min(position), column_id", params).df()
    wide = _assemble_wide(meta, answers, texts, columns)
    for c in extra:
        wide[c] = meta[c].to_numpy()
    return wide


@dataclass(frozen=True)
class _Plan:
    new: pd.Series        # bool per prepared row: id not stored
    same: pd.Series       # stored, identical content -> duplicate
    conflict: pd.Series   # stored, different content
    old_keys: np.ndarray  # stored response_key per prepared row (-1 when new)
    old_version: np.ndarray


def plan_import(prepared: _Prepared, stored: pd.DataFrame, con: duckdb.DuckDBPyConnection) -> _Plan:
    """Classify each incoming row against the stored current version of its response id."""
    meta = prepared.meta
    by_id = pd.Series(stored.index.to_numpy(), index=stored[F.RESPONSE_ID].to_numpy())
    old_keys = meta[F.RESPONSE_ID].map(by_id).fillna(-1).astype("int64").to_numpy()
    exists = pd.Series(old_keys >= 0, index=meta.index)
    versions = pd.Series(stored["version"].to_numpy(), index=stored.index)
    old_version = np.where(old_keys >= 0, versions.reindex(old_keys).fillna(0).to_numpy(), 0)
    conflict = pd.Series(False, index=meta.index)
    if exists.any():
        incoming = _assemble_wide(meta, prepared.answers, prepared.texts, prepared.columns)
        incoming = incoming.set_index(F.RESPONSE_ID)
        previous = stored.drop(columns="version").set_index(F.RESPONSE_ID)
        hit = exists.to_numpy()
        differs = _changed(incoming[hit], previous)
        conflict[hit] = differs.to_numpy()
    return _Plan(new=~exists, same=exists & ~conflict, conflict=conflict, old_keys=old_keys,
                 old_version=old_version.astype("int64"))


def keyed_rows(prepared: _Prepared, write: pd.Series, plan: _Plan, con: duckdb.DuckDBPyConnection,
           import_id: int, instrument: Instrument) -> tuple[pd.DataFrame, ...]:
    """Give the rows to write their final response keys and version numbers."""
    base = next_id(con, "responses", "response_key")
    rows = prepared.meta.loc[write.to_numpy()]
    keys = pd.Series(np.arange(base, base + len(rows), dtype="int64"), index=rows["response_key"])
    meta = rows.assign(
        response_key=keys.to_numpy(), import_id=import_id, instrument_id=instrument.id,
        instrument_version=instrument.version,
        version=plan.old_version[write.to_numpy()] + 1, current=True, superseded_by=None)
    meta["superseded_by"] = meta["superseded_by"].astype("Int32")

    def remap(long: pd.DataFrame) -> pd.DataFrame:
        kept = long[long["response_key"].isin(keys.index)]
        return kept.assign(response_key=kept["response_key"].map(keys).astype("int64"))

    return meta, remap(prepared.answers), remap(prepared.texts)


def rejection_rows(parsed: F.ParsedResponses, import_id: int, accept_valid: bool) -> pd.DataFrame:
    rej = parsed.rejected
    if not accept_valid:
        rej = rej[rej["kind"] != "invalid"]
    dup = parsed.duplicates
    out = pd.concat([
        pd.DataFrame({F.SOURCE_ROW: rej[F.SOURCE_ROW].astype("int64").to_numpy(),
                      "column_id": as_text(rej["column"]).to_numpy(),
                      "kind": rej["kind"].astype(str).to_numpy(),
                      "reason": rej["reason"].astype(str).to_numpy()}),
        pd.DataFrame({F.SOURCE_ROW: dup[F.SOURCE_ROW].astype("int64").to_numpy(),
                      "column_id": F.RESPONSE_ID, "kind": "duplicate",
                      "reason": ("repeats the response id of row "
                                 + dup["duplicate_of"].astype("int64").astype(str)).to_numpy()}),
    ], ignore_index=True)
    return out.assign(import_id=import_id)
