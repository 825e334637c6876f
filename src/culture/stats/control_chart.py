"""Shewhart individuals (XmR) chart with the Western Electric rules 1-4 (R ``qcc``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from culture.errors import (
    InsufficientDataError,
    Problem,
    TrendInputError,
)

# d2 for subgroups of two (moving range of consecutive points); Montgomery,
# Introduction to Statistical Quality Control, Appendix Table VI.
D2_MOVING_RANGE = 1.128


# --------------------------------------------------------------------------- control chart


def _run_flags(cond: np.ndarray, length: int) -> np.ndarray:
    """True from the ``length``-th consecutive True onwards (qcc's run convention)."""
    c = cond.astype(np.int64)
    csum = np.cumsum(c)
    # Running count resets at every False: subtract the cumsum at the last reset.
    resets = np.maximum.accumulate(np.where(c == 0, csum, 0))
    return (csum - resets) >= length


def _k_of_m(beyond: np.ndarray, k: int, m: int) -> np.ndarray:
    """Point beyond the zone and at least k of the last m (itself included) beyond too."""
    counts = pd.Series(beyond.astype(np.float64)).rolling(m, min_periods=m).sum().to_numpy()
    return beyond & (counts >= k)


def individuals_chart(values: pd.Series, *, baseline: int | slice | None = None,
                      sigmas: float = 3.0, sigma_floor: float = 0.0) -> pd.DataFrame:
    """Shewhart individuals (XmR) chart with Western Electric rules 1-4.

    Limits come from the baseline points only (Phase I): centre = their mean;
    sigma = mean moving range of consecutive baseline points / d2, d2 = 1.128;
    ``UCL/LCL = centre +/- 3 sigma``. Every observed point is then checked
    (Western Electric 1956, *Statistical Quality Control Handbook*; Montgomery,
    *Introduction to Statistical Quality Control*, ch. 5-6):

    1. one point beyond 3 sigma;
    2. two of three consecutive points beyond 2 sigma on the same side;
    3. four of five consecutive points beyond 1 sigma on the same side;
    4. eight consecutive points on the same side of the centre line.

    As in R ``qcc`` (``qccRulesViolatingWER1``-``4``) a point is flagged by rules
    2-3 only if it is itself beyond the zone, and by rule 4 from the eighth point
    of the run on. Limits agree with ``qcc(x, type = "xbar.one")``.
    Missing values (suppressed waves) are skipped: runs and moving ranges join
    the neighbouring observed waves.

    Parameters
    ----------
    values : Series
        One score per wave, in time order, indexed by wave.
    baseline : int or slice, optional
        The first ``baseline`` rows, or a positional slice, define the limits;
        default all rows.
    sigmas : float
        Width of the control limits (3 for the classic chart).
    sigma_floor : float
        Lower bound on sigma (default 0: plain XmR). The report uses the released
        standard error of the series, so sampling noise cannot signal.

    Returns
    -------
    DataFrame indexed like ``values`` with columns ``value, moving_range, baseline,
    centre, sigma, lcl, ucl, zone`` (signed distance from the centre in sigmas),
    ``rule1`` ... ``rule4`` (bool) and ``signals`` (e.g. ``"1,4"``; ``""`` for none).
    """
    problems: list[Problem] = []
    if not isinstance(values, pd.Series) or not pd.api.types.is_numeric_dtype(values):
        raise TrendInputError([Problem("values", "must be a numeric Series indexed by wave")],
                              source="individuals_chart")
    if not values.index.is_unique:
        problems.append(Problem("values", "wave index must be unique"))
    elif not values.index.is_monotonic_increasing:
        problems.append(Problem("values", "waves must be in time order (sort the index)"))
    if not (isinstance(sigmas, int | float) and sigmas > 0):
        problems.append(Problem("sigmas", "must be a number > 0"))
    n = len(values)
    if baseline is None:
        base_sel = slice(None)
    elif isinstance(baseline, slice):
        base_sel = baseline
    elif isinstance(baseline, int | np.integer) and not isinstance(baseline, bool) and baseline > 0:
        base_sel = slice(0, int(baseline))
    else:
        problems.append(Problem("baseline", "must be a positive int (first n waves) or a slice"))
        base_sel = slice(None)
    if problems:
        raise TrendInputError(problems, source="individuals_chart")

    x = values.to_numpy(np.float64)
    in_base = np.zeros(n, dtype=bool)
    in_base[np.arange(n)[base_sel]] = True
    obs = ~np.isnan(x)
    bx = x[in_base & obs]
    if bx.size < 2:
        raise InsufficientDataError(
            f"individuals_chart: the baseline has {bx.size} observed wave(s); at least 2 are "
            "needed to estimate sigma from a moving range")
    centre = bx.mean()
    # A short baseline can give a moving range far below the sampling error of the points
    # (three ranges from four waves); ``sigma_floor`` (e.g. the points' standard error)
    # keeps sampling noise from being read as a signal.
    sigma = max(np.abs(np.diff(bx)).mean() / D2_MOVING_RANGE, float(sigma_floor))
    if sigma == 0:
        raise InsufficientDataError(
            "individuals_chart: the baseline waves do not vary, so sigma is 0 and no control "
            "limits can be drawn")

    xo = x[obs]
    mr = np.full(n, np.nan)
    mr[np.flatnonzero(obs)[1:]] = np.abs(np.diff(xo))
    with np.errstate(divide="ignore", invalid="ignore"):
        zone_o = (xo - centre) / sigma
    # Rules on the observed points only, so a suppressed wave does not break a run.
    r1 = np.abs(zone_o) > sigmas
    r2 = (_k_of_m(zone_o > sigmas * 2 / 3, 2, 3) | _k_of_m(zone_o < -sigmas * 2 / 3, 2, 3))
    r3 = (_k_of_m(zone_o > sigmas / 3, 4, 5) | _k_of_m(zone_o < -sigmas / 3, 4, 5))
    r4 = _run_flags(zone_o > 0, 8) | _run_flags(zone_o < 0, 8)

    def spread(flags: np.ndarray) -> np.ndarray:
        full = np.zeros(n, dtype=bool)
        full[obs] = flags
        return full

    rules = {f"rule{i}": spread(r) for i, r in enumerate((r1, r2, r3, r4), start=1)}
    zone = np.full(n, np.nan)
    zone[obs] = zone_o
    rule_matrix = np.column_stack(list(rules.values()))
    digits = np.array(["1", "2", "3", "4"])
    # Join the numbers of the rules each point breaks, e.g. "1,4".
    signals = [",".join(digits[row]) for row in rule_matrix]
    return pd.DataFrame({
        "value": x, "moving_range": mr, "baseline": in_base,
        "centre": centre, "sigma": sigma,
        "lcl": centre - sigmas * sigma, "ucl": centre + sigmas * sigma,
        "zone": zone, **rules, "signals": signals,
    }, index=values.index)
