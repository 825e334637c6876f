"""The unit x quarter panel that joins released culture scores to quality outcomes.

Panel columns (:func:`build_panel`)
-----------------------------------
``unit_id`` str, ``quarter`` str ``YYYYQn``, ``quarter_index`` int (``frames.wave_index``),
``exposure`` float64 (NaN when not supplied),
``nc_internal`` / ``nc_customer`` / ``nc_total`` nonconformities opened in the quarter
by who detected them, ``audit_minor`` / ``audit_major`` / ``audit_critical`` /
``audit_total`` audit findings opened in the quarter by severity, ``complaints``,
``capa_closed`` CAPAs closed in the quarter, ``capa_days_to_close_mean`` their mean
days from opened to closed, ``capa_on_time_share`` share of them (with a due date)
closed on or before the due date (NaN when no CAPA closed), and per construct ``<c>``
(current quarter) and ``<c>_lag<k>`` (the same unit's score k quarters earlier; NaN
when that quarter is missing or suppressed: a gap is never bridged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import (
    ConfigError,
    Problem,
    ValidationError,
)

UNIT = frames.UNIT
QUARTER = "quarter"
QINDEX = "quarter_index"
EXPOSURE = "exposure"

COUNT_OUTCOMES = ("nc_internal", "nc_customer", "nc_total", "audit_minor", "audit_major",
                  "audit_critical", "audit_total", "complaints", "capa_closed")
CONTINUOUS_OUTCOMES = ("capa_days_to_close_mean", "capa_on_time_share")
_EVENT_COLUMNS = ("event_id", "kind", UNIT, "opened", "closed", "due", "severity", "detected")
_DETECTED = ("internal", "customer")

# --------------------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------------------

def _rows(mask: pd.Series, limit: int = 5) -> str:
    """1-based row positions of a boolean mask, the first few only (never the values)."""
    pos = np.flatnonzero(mask.to_numpy()) + 1
    shown = ", ".join(str(p) for p in pos[:limit])
    return f"row(s) {shown}" + (f" and {len(pos) - limit} more" if len(pos) > limit else "")


def quarter_index(q: pd.Series, name: str, problems: list[Problem]) -> pd.Series:
    """Map ``YYYYQn`` strings to ``frames.wave_index`` (over unique values, not rows)."""
    q = q.astype("string")
    ok = q.str.fullmatch(frames.WAVE_RE.pattern.strip("^$")).fillna(False).astype(bool)
    if (~ok).any():
        problems.append(Problem(f"{name}, column '{QUARTER}', {_rows(~ok)}",
                                "quarter must be of the form YYYYQn, e.g. 2026Q3"))
    lookup = {v: frames.wave_index(v) for v in q[ok].unique()}
    return q.map(lookup).astype("Int64")


def _missing_columns(df: pd.DataFrame, need: Iterable[str], name: str,
                     problems: list[Problem]) -> bool:
    missing = [c for c in need if c not in df.columns]
    if missing:
        problems.append(Problem(name, f"missing required column(s) {missing}; "
                                      f"given columns {list(map(str, df.columns))}"))
    return bool(missing)


def _check_scores(scores: pd.DataFrame, problems: list[Problem]) -> tuple[pd.DataFrame, list[str]]:
    if _missing_columns(scores, (UNIT, QUARTER), "scores", problems):
        return pd.DataFrame(), []
    constructs = [c for c in scores.columns if c not in (UNIT, QUARTER)]
    if not constructs:
        problems.append(Problem("scores", "no construct columns besides unit_id and quarter"))
    bad = [c for c in constructs if not pd.api.types.is_numeric_dtype(scores[c])
           or pd.api.types.is_bool_dtype(scores[c])]
    if bad:
        problems.append(Problem(f"scores, column(s) {bad}",
                                "construct scores must be numeric (NaN = suppressed)"))
    out = pd.DataFrame({UNIT: scores[UNIT].astype("string"),
                        QINDEX: quarter_index(scores[QUARTER], "scores", problems)})
    for c in constructs:
        if c not in bad:
            out[c] = scores[c].astype("float64")
    if out[UNIT].isna().any():
        problems.append(Problem(f"scores, column '{UNIT}', {_rows(out[UNIT].isna())}",
                                "unit_id is missing"))
    dup = out.duplicated([UNIT, QINDEX], keep=False) & out[QINDEX].notna()
    if dup.any():
        problems.append(Problem(f"scores, {_rows(dup)}",
                                "more than one row for the same unit_id and quarter"))
    return out, [c for c in constructs if c not in bad]


def _check_exposure(exposure: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    if _missing_columns(exposure, (UNIT, QUARTER, EXPOSURE), "exposure", problems):
        return pd.DataFrame(columns=[UNIT, QINDEX, EXPOSURE])
    value = pd.to_numeric(exposure[EXPOSURE], errors="coerce").astype("float64")
    bad = (value.isna() & exposure[EXPOSURE].notna()) | (value < 0)
    if bad.any():
        problems.append(Problem(f"exposure, column '{EXPOSURE}', {_rows(bad)}",
                                "exposure must be a number >= 0"))
    out = pd.DataFrame({UNIT: exposure[UNIT].astype("string"),
                        QINDEX: quarter_index(exposure[QUARTER], "exposure", problems),
                        EXPOSURE: value})
    dup = out.duplicated([UNIT, QINDEX], keep=False) & out[QINDEX].notna()
    if dup.any():
        problems.append(Problem(f"exposure, {_rows(dup)}",
                                "more than one row for the same unit_id and quarter"))
    return out


def _check_events(events: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    if _missing_columns(events, _EVENT_COLUMNS, "events", problems):
        return pd.DataFrame(columns=list(_EVENT_COLUMNS))
    ev = pd.DataFrame({UNIT: events[UNIT].astype("string"),
                       "kind": events["kind"].astype("string"),
                       "severity": events["severity"].astype("string"),
                       "detected": events["detected"].astype("string")})
    for col in ("opened", "closed", "due"):
        parsed = pd.to_datetime(events[col], errors="coerce")
        bad = parsed.isna() & events[col].notna()
        if bad.any():
            problems.append(Problem(f"events, column '{col}', {_rows(bad)}",
                                    "not a date (use ISO 8601, e.g. 2026-03-31)"))
        ev[col] = parsed
    checks = [
        (ev[UNIT].isna(), UNIT, "unit_id is missing"),
        (~ev["kind"].isin(frames.QUALITY_KINDS).fillna(False).astype(bool), "kind",
         f"kind must be one of {', '.join(frames.QUALITY_KINDS)}"),
        (ev["opened"].isna() & events["opened"].isna(), "opened", "opened date is missing"),
        ((ev["kind"] == "nonconformity").fillna(False).astype(bool)
         & ~ev["detected"].isin(_DETECTED).fillna(False).astype(bool), "detected",
         f"a nonconformity needs detected = {' or '.join(_DETECTED)}"),
        ((ev["kind"] == "audit_finding").fillna(False).astype(bool)
         & ~ev["severity"].isin(frames.SEVERITIES).fillna(False).astype(bool), "severity",
         f"an audit finding needs severity = {', '.join(frames.SEVERITIES)}"),
        ((ev["closed"] < ev["opened"]).fillna(False).astype(bool), "closed",
         "closed before it was opened"),
    ]
    for mask, col, message in checks:
        if mask.any():
            problems.append(Problem(f"events, column '{col}', {_rows(mask)}", message))
    return ev


def _date_quarter(d: pd.Series) -> pd.Series:
    """Quarter index of dates, same convention as ``frames.wave_index`` (year*4 + q-1)."""
    return (d.dt.year * 4 + (d.dt.month - 1) // 3).astype("Int64")


def _counts(ev: pd.DataFrame) -> pd.DataFrame:
    """Event counts per unit x quarter opened (wide, zero-filled later)."""
    kind, det, sev = ev["kind"], ev["detected"], ev["severity"]
    flags = {
        "nc_internal": (kind == "nonconformity") & (det == "internal"),
        "nc_customer": (kind == "nonconformity") & (det == "customer"),
        "audit_minor": (kind == "audit_finding") & (sev == "minor"),
        "audit_major": (kind == "audit_finding") & (sev == "major"),
        "audit_critical": (kind == "audit_finding") & (sev == "critical"),
        "complaints": kind == "complaint",
    }
    wide = pd.DataFrame({k: v.fillna(False).astype("int64") for k, v in flags.items()})
    wide[UNIT] = ev[UNIT]
    wide[QINDEX] = _date_quarter(ev["opened"])
    return wide.groupby([UNIT, QINDEX], as_index=False).sum()


def _capa(ev: pd.DataFrame) -> pd.DataFrame:
    """CAPA closure KPIs per unit x quarter *closed*.

    A KPI measured at closure uses every closed CAPA exactly once and is not
    censored by CAPAs still open at the end of the panel.
    """
    capa = ev[(ev["kind"] == "capa").fillna(False).astype(bool) & ev["closed"].notna()]
    out = pd.DataFrame({
        UNIT: capa[UNIT],
        QINDEX: _date_quarter(capa["closed"]),
        "capa_closed": 1,
        "days": (capa["closed"] - capa["opened"]).dt.total_seconds() / 86400.0,
        # on time only defined when a due date exists: NaN otherwise, so it is skipped
        "on_time": (capa["closed"] <= capa["due"]).astype("float64").where(capa["due"].notna()),
    })
    return (out.groupby([UNIT, QINDEX], as_index=False)
            .agg(capa_closed=("capa_closed", "sum"), capa_days_to_close_mean=("days", "mean"),
                 capa_on_time_share=("on_time", "mean")))


def lag_frame(base: pd.DataFrame, cols: Sequence[str], k: int) -> pd.DataFrame:
    """Values of ``cols`` from the same unit exactly k quarters earlier (no bridging)."""
    shifted = base[[UNIT, QINDEX, *cols]].copy()
    shifted[QINDEX] = shifted[QINDEX] + k
    return shifted.rename(columns={c: f"{c}_lag{k}" for c in cols})


def build_panel(scores: pd.DataFrame, events: pd.DataFrame, exposure: pd.DataFrame, *,
                lags: Sequence[int] = (1, 2)) -> pd.DataFrame:
    """Join released culture scores, quality events and exposure into a unit x quarter panel.

    Parameters
    ----------
    scores : DataFrame
        ``unit_id``, ``quarter`` (``YYYYQn``) and one numeric column per construct:
        released unit-level aggregates only (NaN where the release suppressed a cell).
    events : DataFrame
        Quality register rows ``event_id, kind, unit_id, opened, closed, due, severity,
        detected`` (see :mod:`culture.frames`). Counts are assigned to the quarter the
        event was *opened*; CAPA KPIs to the quarter the CAPA was *closed*.
    exposure : DataFrame
        ``unit_id``, ``quarter``, ``exposure`` (e.g. units produced, hours worked).
    lags : sequence of int
        Lags (in quarters, >= 1) of every construct to add as ``<c>_lag<k>``.

    Returns
    -------
    DataFrame
        One row per unit x quarter present in any input, columns as in the module
        docstring, sorted by unit and quarter. Unit ids are compared as strings.

    Raises
    ------
    ValidationError
        Listing every problem in the three inputs (positions and columns, never values).
    ConfigError
        If ``lags`` is not a sequence of positive integers.
    """
    lags = tuple(lags)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
               for k in lags):
        raise ConfigError(f"parameter 'lags' must hold integers >= 1 (quarters); given {lags!r}")
    problems: list[Problem] = []
    sc, constructs = _check_scores(scores, problems)
    ex = _check_exposure(exposure, problems)
    ev = _check_events(events, problems)
    if problems:
        raise ValidationError(problems, source="build_panel")

    counts, capa = _counts(ev), _capa(ev)
    keys = pd.concat([df[[UNIT, QINDEX]] for df in (sc, ex, counts, capa)], ignore_index=True)
    panel = keys.drop_duplicates().sort_values([UNIT, QINDEX], ignore_index=True)
    panel = panel.merge(ex, on=[UNIT, QINDEX], how="left")
    panel = panel.merge(counts, on=[UNIT, QINDEX], how="left")
    count_cols = [c for c in counts.columns if c not in (UNIT, QINDEX)]
    # no register row for a unit-quarter in the panel means no event: 0, not missing
    panel[count_cols] = panel[count_cols].fillna(0).astype("int64")
    panel["nc_total"] = panel["nc_internal"] + panel["nc_customer"]
    panel["audit_total"] = panel["audit_minor"] + panel["audit_major"] + panel["audit_critical"]
    panel = panel.merge(capa, on=[UNIT, QINDEX], how="left")
    panel["capa_closed"] = panel["capa_closed"].fillna(0).astype("int64")
    panel = panel.merge(sc, on=[UNIT, QINDEX], how="left")
    for k in lags:
        panel = panel.merge(lag_frame(sc, constructs, k), on=[UNIT, QINDEX], how="left")

    panel[QINDEX] = panel[QINDEX].astype("int64")
    quarters = {i: frames.wave_from_index(int(i)) for i in panel[QINDEX].unique()}
    panel.insert(1, QUARTER, panel[QINDEX].map(quarters).astype("string"))
    panel[EXPOSURE] = panel[EXPOSURE].astype("float64")
    order = [UNIT, QUARTER, QINDEX, EXPOSURE, *COUNT_OUTCOMES, *CONTINUOUS_OUTCOMES]
    lagged = [f"{c}_lag{k}" for c in constructs for k in lags]
    return panel[order + constructs + lagged].reset_index(drop=True)
