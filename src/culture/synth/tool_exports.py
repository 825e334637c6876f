"""Write a canonical response frame as a survey tool would export it.

Used by the demo (synthetic organisation -> realistic export files) and by the
round-trip tests: ``write_export`` then :func:`culture.io.read_responses` gives
back the same item codes, units, demographics and respondent ids.

Layouts follow each tool's documented export format (the same ones
:mod:`culture.ingest.formats` recognises). Text cells that a
spreadsheet would run as a formula (leading ``= + - @``) are written with a
leading apostrophe, the usual neutralisation.
"""

from __future__ import annotations

import csv
import io as _io
import json
import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import ConfigError
from culture.measure.instrument import Instrument

WRITE_FORMATS = ("qualtrics", "msforms", "csv", "xlsx", "googleforms", "limesurvey",
                 "surveymonkey", "spss")
_STEM = "To what extent do you agree with the following statements?"
_EMPLOYEE = "Employee ID"
_UNIT = "Unit ID"
_WAVE = "Wave"


def write_export(frame: pd.DataFrame, instrument: Instrument, path: str | Path, *, fmt: str,
                 seed: int = 0) -> Path:
    """Write ``frame`` (canonical responses, see :mod:`culture.frames`) as a ``fmt`` export.

    Parameters
    ----------
    frame : needs ``unit_id`` and every instrument item; uses ``respondent`` (employee id),
        ``response_id``, ``wave``, demographics, ``started_at``, ``submitted_at``,
        ``duration_s``, ``finished`` and comment columns when present.
    instrument : the instrument whose items, labels and demographics are written.
    path : output file (parent directory must exist).
    fmt : one of :data:`WRITE_FORMATS`: ``qualtrics`` (current 3-header-row CSV, numeric
        values), ``msforms`` (XLSX, text labels, ``anonymous`` email), ``csv`` (item-id
        headers, codes), ``xlsx`` (same as csv), ``googleforms`` (grid ``Stem [Statement]``,
        labels), ``limesurvey`` (UTF-8 BOM, ``;``, all quoted, ``LQC[LC1]`` codes),
        ``surveymonkey`` (two header rows, labels), ``spss`` (.sav with value labels).
    seed : seeds the made-up parts (tool response ids, times when the frame has none).

    Returns
    -------
    Path of the written file.
    """
    if fmt not in WRITE_FORMATS:
        raise ConfigError(f"fmt={fmt!r} is not a writable format; allowed: "
                          f"{', '.join(WRITE_FORMATS)}")
    missing = [c for c in (frames.UNIT, *instrument.item_ids) if c not in frame.columns]
    if missing:
        raise ConfigError(f"frame lacks column(s) {', '.join(missing)} needed to write an export")
    rng = np.random.default_rng(seed)
    path = Path(path)
    data = _prepare(frame, instrument, rng)
    _WRITERS[fmt](data, instrument, path, rng)
    return path


# --------------------------------------------------------------------------- helpers

def _prepare(frame: pd.DataFrame, instrument: Instrument, rng: np.random.Generator) -> pd.DataFrame:
    """A copy with every canonical column present (made-up times where the frame has none)."""
    n = len(frame)
    out = frame.reset_index(drop=True).copy()
    if frames.SUBMITTED not in out or out[frames.SUBMITTED].isna().all():
        base = pd.Timestamp("2026-03-02 08:00:00")
        out[frames.SUBMITTED] = base + pd.to_timedelta(rng.integers(0, 14 * 86400, n), unit="s")
    if frames.DURATION not in out:
        out[frames.DURATION] = rng.integers(240, 1800, n).astype("float64")
    if frames.STARTED not in out or out[frames.STARTED].isna().all():
        out[frames.STARTED] = out[frames.SUBMITTED] - pd.to_timedelta(
            out[frames.DURATION].fillna(600), unit="s")
    if frames.FINISHED not in out:
        out[frames.FINISHED] = True
    for col in (frames.RESPONDENT, frames.WAVE, frames.RESPONSE_ID):
        if col not in out:
            out[col] = None
    for d in instrument.demographics:
        if d.id not in out:
            out[d.id] = d.missing_code
    for c in instrument.comments:
        if c.id not in out:
            out[c.id] = None
    for col in (frames.STARTED, frames.SUBMITTED):
        out[col] = pd.to_datetime(out[col]).dt.floor("s")
    return out


def _safe_text(s: pd.Series) -> pd.Series:
    """Text for a spreadsheet cell: None -> "", formula-like text neutralised with ``'``."""
    s = s.astype(object).where(s.notna(), "").astype(str)
    risky = s.str.match(r"^[=+\-@]")
    return s.where(~risky, "'" + s)


def _codes(s: pd.Series) -> pd.Series:
    """Item codes as text ("4"); NaN -> ""."""
    num = pd.to_numeric(s, errors="coerce").round().astype("Int64")
    return num.astype(str).where(num.notna(), "")


def _labels(s: pd.Series, instrument: Instrument) -> pd.Series:
    table = {**{float(k): v for k, v in instrument.scale.labels.items()},
             **{float(k): v for k, v in instrument.scale.non_substantive.items()}}
    return pd.to_numeric(s, errors="coerce").map(table).fillna("").astype(str)


def _demo_labels(s: pd.Series, instrument: Instrument, demo_id: str) -> pd.Series:
    d = instrument.demographic(demo_id)
    table = dict(d.codes)
    if d.missing_code is not None:
        table[d.missing_code] = d.missing_label or d.missing_code
    return s.map(table).fillna("").astype(str)


def _ids(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


def _response_ids(data: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """Tool response ids: the frame's own, else Qualtrics-like ``R_`` + 15 alphanumerics."""
    alphabet = np.array(list(string.ascii_letters + string.digits))
    picks = alphabet[rng.integers(0, len(alphabet), (len(data), 15))]
    made = pd.Series(picks[:, 0], dtype=object)
    for k in range(1, 15):  # 15 column-wise concatenations, not a loop over rows
        made = made + picks[:, k]
    own = data[frames.RESPONSE_ID]
    return own.astype(object).where(own.notna(), "R_" + made).astype(str)


def _stamp(s: pd.Series, fmt: str) -> pd.Series:
    return s.dt.strftime(fmt).fillna("")


def _write_rows(path: Path, header_rows: list[list[str]], body: pd.DataFrame, *,
                delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL, bom: bool = False,
                lineterminator: str = "\r\n") -> None:
    buf = _io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=lineterminator)
    w.writerows(header_rows)
    body.to_csv(buf, header=False, index=False, sep=delimiter, quoting=quoting,
                lineterminator=lineterminator)
    path.write_text(buf.getvalue(), encoding="utf-8-sig" if bom else "utf-8", newline="")


def _write_xlsx(path: Path, header: list[str], body: pd.DataFrame) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(header)
    for row in body.itertuples(index=False, name=None):
        ws.append([None if (v is None or (isinstance(v, float) and np.isnan(v)) or v == "")
                   else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for v in row])
    wb.save(path)


def _with_wave(data: pd.DataFrame) -> bool:
    return data[frames.WAVE].notna().any()


# --------------------------------------------------------------------------- formats

def _qualtrics(data: pd.DataFrame, instrument: Instrument, path: Path,
               rng: np.random.Generator) -> None:
    """Current Qualtrics CSV: tags / labels / ImportId JSON, numeric values."""
    n = len(data)
    fin = data[frames.FINISHED].astype(bool)
    progress = np.where(fin, 100, rng.integers(10, 95, n))
    cols: list[tuple[str, str, dict, pd.Series]] = []

    def add(tag: str, label: str, meta: dict, values: pd.Series | str) -> None:
        cols.append((tag, label, meta, values if isinstance(values, pd.Series)
                     else pd.Series([values] * n, dtype=object)))

    ts = "%Y-%m-%d %H:%M:%S"
    utc = {"timeZone": "UTC"}
    add("StartDate", "Start Date", {"ImportId": "startDate", **utc},
        _stamp(data[frames.STARTED], ts))
    add("EndDate", "End Date", {"ImportId": "endDate", **utc}, _stamp(data[frames.SUBMITTED], ts))
    add("Status", "Response Type", {"ImportId": "status"}, "0")
    add("IPAddress", "IP Address", {"ImportId": "ipAddress"}, "")
    add("Progress", "Progress", {"ImportId": "progress"}, pd.Series(progress).astype(str))
    add("Duration (in seconds)", "Duration (in seconds)", {"ImportId": "duration"},
        _codes(data[frames.DURATION].round()))
    add("Finished", "Finished", {"ImportId": "finished"}, fin.map({True: "1", False: "0"}))
    add("RecordedDate", "Recorded Date", {"ImportId": "recordedDate", **utc},
        _stamp(data[frames.SUBMITTED], ts))
    add("ResponseId", "Response ID", {"ImportId": "_recordId"}, _response_ids(data, rng))
    for tag, label, imp in (("RecipientLastName", "Recipient Last Name", "recipientLastName"),
                            ("RecipientFirstName", "Recipient First Name", "recipientFirstName"),
                            ("RecipientEmail", "Recipient Email", "recipientEmail"),
                            ("ExternalReference", "External Data Reference",
                             "externalDataReference"),
                            ("LocationLatitude", "Location Latitude", "locationLatitude"),
                            ("LocationLongitude", "Location Longitude", "locationLongitude")):
        add(tag, label, {"ImportId": imp}, "")
    add("DistributionChannel", "Distribution Channel", {"ImportId": "distributionChannel"},
        "anonymous")
    add("UserLanguage", "User Language", {"ImportId": "userLanguage"}, "EN")
    for k, item in enumerate(instrument.items, start=1):
        add(item.id, f"{_STEM} - {item.text}", {"ImportId": f"QID1_{k}"}, _codes(data[item.id]))
    for k, c in enumerate(instrument.comments, start=2):
        add(c.id, c.text, {"ImportId": f"QID{k}_TEXT"}, _safe_text(data[c.id]))
    # Embedded data fields come last and carry their own names as ImportId.
    add("employee_id", "employee_id", {"ImportId": "employee_id"}, _ids(data[frames.RESPONDENT]))
    add("unit_id", "unit_id", {"ImportId": "unit_id"}, _ids(data[frames.UNIT]))
    if _with_wave(data):
        add("wave", "wave", {"ImportId": "wave"}, _ids(data[frames.WAVE]))
    for d in instrument.demographics:
        add(d.id, d.id, {"ImportId": d.id}, _ids(data[d.id]))
    heads = [[c[0] for c in cols], [c[1] for c in cols],
             [json.dumps(c[2], separators=(",", ":")) for c in cols]]
    body = pd.DataFrame({i: c[3].reset_index(drop=True) for i, c in enumerate(cols)})
    _write_rows(path, heads, body)


def _table(data: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Generic layout: canonical names as headers, codes as values."""
    out = {frames.RESPONSE_ID: _ids(data[frames.RESPONSE_ID]),
           "employee_id": _ids(data[frames.RESPONDENT]), frames.UNIT: _ids(data[frames.UNIT])}
    if _with_wave(data):
        out[frames.WAVE] = _ids(data[frames.WAVE])
    out |= {d.id: _ids(data[d.id]) for d in instrument.demographics}
    out[frames.STARTED] = _stamp(data[frames.STARTED], "%Y-%m-%d %H:%M:%S")
    out[frames.SUBMITTED] = _stamp(data[frames.SUBMITTED], "%Y-%m-%d %H:%M:%S")
    out[frames.DURATION] = _codes(data[frames.DURATION].round())
    out[frames.FINISHED] = data[frames.FINISHED].astype(bool).map({True: "1", False: "0"})
    out |= {i: _codes(data[i]) for i in instrument.item_ids}
    out |= {c.id: _safe_text(data[c.id]) for c in instrument.comments}
    table = pd.DataFrame(out)
    if data[frames.RESPONSE_ID].isna().all():
        table = table.drop(columns=frames.RESPONSE_ID)
    return table


def _csv(data: pd.DataFrame, instrument: Instrument, path: Path, rng: np.random.Generator) -> None:
    table = _table(data, instrument)
    _write_rows(path, [list(table.columns)], table)


def _xlsx(data: pd.DataFrame, instrument: Instrument, path: Path,
          rng: np.random.Generator) -> None:
    table = _table(data, instrument)
    _write_xlsx(path, list(table.columns), table)


def _msforms(data: pd.DataFrame, instrument: Instrument, path: Path,
             rng: np.random.Generator) -> None:
    """Microsoft Forms 'Open results in Excel': text labels, anonymous email."""
    n = len(data)
    cols = {"ID": pd.Series(np.arange(1, n + 1)), "Start time": data[frames.STARTED],
            "Completion time": data[frames.SUBMITTED],
            "Email": pd.Series(["anonymous"] * n), "Name": pd.Series([""] * n),
            "Last modified time": pd.Series([""] * n),
            _EMPLOYEE: _ids(data[frames.RESPONDENT]), _UNIT: _ids(data[frames.UNIT])}
    if _with_wave(data):
        cols[_WAVE] = _ids(data[frames.WAVE])
    for d in instrument.demographics:
        cols[d.name] = _demo_labels(data[d.id], instrument, d.id)
    for item in instrument.items:
        cols[item.text] = _labels(data[item.id], instrument)
    for c in instrument.comments:
        cols[c.text] = _safe_text(data[c.id])
    header = list(cols)
    body = pd.DataFrame({i: v.reset_index(drop=True) for i, v in enumerate(cols.values())})
    _write_xlsx(path, header, body)


def _googleforms(data: pd.DataFrame, instrument: Instrument, path: Path,
                 rng: np.random.Generator) -> None:
    """Google Forms responses CSV: ``Timestamp``, grid ``Stem [Row]`` columns."""
    stamp = (data[frames.SUBMITTED].dt.strftime("%Y/%m/%d %I:%M:%S %p")
             .str.replace(r" 0(\d):", r" \1:", regex=True) + " GMT")
    cols = {"Timestamp": stamp.fillna(""), _EMPLOYEE: _ids(data[frames.RESPONDENT]),
            _UNIT: _ids(data[frames.UNIT])}
    if _with_wave(data):
        cols[_WAVE] = _ids(data[frames.WAVE])
    for d in instrument.demographics:
        cols[d.name] = _demo_labels(data[d.id], instrument, d.id)
    for item in instrument.items:
        cols[f"{_STEM} [{item.text}]"] = _labels(data[item.id], instrument)
    for c in instrument.comments:
        cols[c.text] = _safe_text(data[c.id])
    table = pd.DataFrame(cols)
    _write_rows(path, [list(table.columns)], table)


def _limesurvey(data: pd.DataFrame, instrument: Instrument, path: Path,
                rng: np.random.Generator) -> None:
    """LimeSurvey CSV: UTF-8 BOM, ``;``, every field quoted, CRLF, question codes."""
    n = len(data)
    fin = data[frames.FINISHED].astype(bool)
    ts = "%Y-%m-%d %H:%M:%S"
    cols = {"id": pd.Series(np.arange(1, n + 1)).astype(str),
            "submitdate": _stamp(data[frames.SUBMITTED], ts).where(fin, ""),
            "lastpage": pd.Series(np.where(fin, 4, 2)).astype(str),
            "startlanguage": pd.Series(["en"] * n),
            "seed": pd.Series(rng.integers(10**8, 10**9, n)).astype(str),
            "startdate": _stamp(data[frames.STARTED], ts),
            "datestamp": _stamp(data[frames.SUBMITTED], ts),
            # LimeSurvey question codes are alphanumeric: no underscores.
            "EMPLOYEEID": _ids(data[frames.RESPONDENT]), "UNITID": _ids(data[frames.UNIT])}
    if _with_wave(data):
        cols["WAVE"] = _ids(data[frames.WAVE])
    for d in instrument.demographics:
        cols[d.id.replace("_", "").upper()] = _ids(data[d.id])
    for item in instrument.items:
        cols[f"LQC[{item.id}]"] = _codes(data[item.id])
    for c in instrument.comments:
        cols[c.id.replace("_", "")] = _safe_text(data[c.id])
    cols["interviewtime"] = _codes(data[frames.DURATION].round())
    table = pd.DataFrame(cols)
    _write_rows(path, [list(table.columns)], table, delimiter=";", quoting=csv.QUOTE_ALL,
                bom=True)


def _surveymonkey(data: pd.DataFrame, instrument: Instrument, path: Path,
                  rng: np.random.Generator) -> None:
    """SurveyMonkey 'All Responses Data' CSV, expanded, actual answer text."""
    n = len(data)
    stamp = "%m/%d/%Y %H:%M"
    top = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
           "Email Address", "First Name", "Last Name", "Custom Data 1"]
    sub = [""] * len(top)
    body = [pd.Series(rng.integers(10**11, 10**12, n)).astype(str),
            pd.Series(["402112345"] * n), _stamp(data[frames.STARTED], stamp),
            _stamp(data[frames.SUBMITTED], stamp)] + [pd.Series([""] * n)] * 5
    singles = [(_EMPLOYEE, _ids(data[frames.RESPONDENT])), (_UNIT, _ids(data[frames.UNIT]))]
    if _with_wave(data):
        singles.append((_WAVE, _ids(data[frames.WAVE])))
    singles += [(d.name, _demo_labels(data[d.id], instrument, d.id))
                for d in instrument.demographics]
    for text, values in singles:
        top.append(text)
        sub.append("Response")
        body.append(values)
    for k, item in enumerate(instrument.items):
        top.append(_STEM if k == 0 else "")  # question text over the first column only
        sub.append(item.text)
        body.append(_labels(data[item.id], instrument))
    for c in instrument.comments:
        top.append(c.text)
        sub.append("Open-Ended Response")
        body.append(_safe_text(data[c.id]))
    table = pd.DataFrame({i: s.reset_index(drop=True) for i, s in enumerate(body)})
    _write_rows(path, [top, sub], table)


def _spss(data: pd.DataFrame, instrument: Instrument, path: Path,
          rng: np.random.Generator) -> None:
    """SPSS .sav: numeric item codes with value labels, question text as variable labels."""
    import pyreadstat

    out: dict[str, pd.Series] = {"employee_id": _ids(data[frames.RESPONDENT]),
                                 "unit_id": _ids(data[frames.UNIT])}
    labels = {"employee_id": "Employee ID", "unit_id": "Unit ID"}
    if _with_wave(data):
        out["wave"] = _ids(data[frames.WAVE])
    for d in instrument.demographics:
        out[d.id] = _ids(data[d.id])
        labels[d.id] = d.name
    scale_labels = {float(k): v for k, v in {**instrument.scale.labels,
                                             **instrument.scale.non_substantive}.items()}
    for item in instrument.items:
        out[item.id] = pd.to_numeric(data[item.id], errors="coerce").astype("float64")
        labels[item.id] = item.text
    for c in instrument.comments:
        out[c.id] = _safe_text(data[c.id])
        labels[c.id] = c.text
    df = pd.DataFrame(out)
    pyreadstat.write_sav(df, str(path), column_labels=[labels.get(c, c) for c in df.columns],
                         variable_value_labels={i: scale_labels for i in instrument.item_ids})


_WRITERS: dict[str, Callable[[pd.DataFrame, Instrument, Path, np.random.Generator], None]] = {
    "qualtrics": _qualtrics, "msforms": _msforms, "csv": _csv, "xlsx": _xlsx,
    "googleforms": _googleforms, "limesurvey": _limesurvey, "surveymonkey": _surveymonkey,
    "spss": _spss}
