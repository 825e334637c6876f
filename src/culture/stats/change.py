"""Change over time: is a movement between waves real, how large is it, is a series stable?

Pure functions over plain arrays and DataFrames; the lead wires them to the ``Release``.
Every two-sample statistic reports ``diff = group 1 - group 2`` (R's ``t.test(x, y)``
convention), so for a change between waves pass the *later* wave first.

Functions
---------
welch_change        Welch t on summary statistics + Hedges' g (vectorised)
paired_change       paired t for people linked across waves by pseudonym
newcombe_diff       difference of two proportions, Newcombe hybrid score CI (vectorised)
benjamini_hochberg  BH false-discovery-rate q values
classify_change     plain-language verdict from a difference and its q value
individuals_chart   Shewhart XmR chart with Western Electric rules 1-4
mixed_trend         linear mixed model of scores on time (units random)
perception_gap      leader minus staff score with a Welch CI

Missing inputs (e.g. a suppressed cell) propagate as NaN in the output row; values
that are present but impossible (negative SD, n < 2, x > n, ...) raise
:class:`TrendInputError` listing every problem at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from culture.errors import InsufficientDataError, Problem, TrendInputError

__all__ = [
    "D2_MOVING_RANGE",
    "CHANGE_LABELS",
    "MixedTrend",
    "TrendInputError",
    "benjamini_hochberg",
    "classify_change",
    "individuals_chart",
    "mixed_trend",
    "newcombe_diff",
    "paired_change",
    "perception_gap",
    "welch_change",
]

# d2 for subgroups of two (moving range of consecutive points); Montgomery,
# Introduction to Statistical Quality Control, Appendix Table VI.
D2_MOVING_RANGE = 1.128

CHANGE_LABELS = (
    "significant and meaningful",
    "significant, small",
    "not significant",
    "not tested",
)



# --------------------------------------------------------------------------- helpers


def _as_float(values, name: str, problems: list[Problem]) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        problems.append(Problem(name, "must be numeric"))
        return np.array([np.nan])
    return np.atleast_1d(arr)


def _rows(mask: np.ndarray) -> str:
    """Positions of offending rows, capped so a message stays readable."""
    pos = np.flatnonzero(mask)
    shown = ", ".join(str(p) for p in pos[:10])
    return f"row(s) {shown}{' ...' if pos.size > 10 else ''}"


def _check_conf(conf: float, problems: list[Problem]) -> None:
    if not (isinstance(conf, int | float) and 0.0 < float(conf) < 1.0):
        problems.append(Problem("conf", "must be a number strictly between 0 and 1"))


def _result_index(*args) -> pd.Index | None:
    for a in args:
        if isinstance(a, pd.Series):
            return a.index
    return None


def _broadcast(arrays: dict[str, np.ndarray], problems: list[Problem]) -> dict[str, np.ndarray]:
    try:
        out = np.broadcast_arrays(*arrays.values())
    except ValueError:
        problems.append(Problem(", ".join(arrays), "must have the same length (one entry per comparison)"))
        return arrays
    return dict(zip(arrays, (np.array(a, dtype=np.float64) for a in out), strict=True))


def _check_counts(n: np.ndarray, name: str, minimum: int, problems: list[Problem]) -> None:
    present = ~np.isnan(n)
    bad = present & ((n < minimum) | (n != np.floor(n)) | ~np.isfinite(n))
    if bad.any():
        problems.append(Problem(name, f"{_rows(bad)}: must be a whole number >= {minimum}"))


def _blank_missing_rows(outputs: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> None:
    """A row with any missing input (e.g. a suppressed cell) reports no statistics at all."""
    missing = np.logical_or.reduce([np.isnan(v) for v in inputs.values()])
    for v in outputs.values():
        v[missing] = np.nan


def _z(conf: float) -> float:
    return float(stats.norm.ppf(0.5 + conf / 2.0))


# --------------------------------------------------------------------------- Welch


def welch_change(mean1, sd1, n1, mean2, sd2, n2, *, conf: float = 0.95) -> pd.DataFrame:
    """Welch two-sample comparison from summary statistics, one row per comparison.

    ``diff = mean1 - mean2``; ``se = sqrt(sd1^2/n1 + sd2^2/n2)``; ``t = diff / se``;
    Welch-Satterthwaite ``df = se^4 / ((sd1^2/n1)^2/(n1-1) + (sd2^2/n2)^2/(n2-1))``;
    two-sided ``p`` and ``diff +/- t_{df} se`` CI. Agrees with R ``t.test(x, y)``
    (Welch is R's default; Welch 1947, Biometrika 34:28-35).

    Hedges' g uses the pooled SD ``sp = sqrt(((n1-1)sd1^2 + (n2-1)sd2^2)/(n1+n2-2))``,
    ``d = diff/sp``, the bias correction ``J = 1 - 3/(4(n1+n2-2) - 1)`` (Hedges 1981),
    ``g = J d`` and the usual large-sample SE
    ``se_g = J sqrt((n1+n2)/(n1 n2) + d^2/(2(n1+n2)))`` with a normal CI ``g +/- z se_g``
    (Borenstein, Hedges, Higgins & Rothstein 2009, *Introduction to Meta-Analysis*,
    eqs 4.18-4.24).

    Parameters
    ----------
    mean1, sd1, n1, mean2, sd2, n2 : array-like or Series
        Summary statistics of group 1 (e.g. the later wave) and group 2. Broadcast
        together; NaN anywhere in a row gives NaN outputs for that row, and so do
        ``t``/``p`` when both SDs are 0.
    conf : float
        Confidence level of both intervals.

    Returns
    -------
    DataFrame with columns ``mean1, mean2, n1, n2, diff, se, df, t, p, ci_low, ci_high,
    hedges_g, g_se, g_ci_low, g_ci_high``; the index of the first Series argument, if any.
    """
    problems: list[Problem] = []
    _check_conf(conf, problems)
    raw = {k: _as_float(v, k, problems) for k, v in
           dict(mean1=mean1, sd1=sd1, n1=n1, mean2=mean2, sd2=sd2, n2=n2).items()}
    a = _broadcast(raw, problems)
    for s in ("sd1", "sd2"):
        bad = ~np.isnan(a[s]) & ~((a[s] >= 0) & np.isfinite(a[s]))
        if bad.any():
            problems.append(Problem(s, f"{_rows(bad)}: must be a finite number >= 0"))
    for m in ("mean1", "mean2"):
        bad = np.isinf(a[m])
        if bad.any():
            problems.append(Problem(m, f"{_rows(bad)}: must be finite"))
    _check_counts(a["n1"], "n1", 2, problems)
    _check_counts(a["n2"], "n2", 2, problems)
    if problems:
        raise TrendInputError(problems, source="welch_change")

    m1, s1, k1, m2, s2, k2 = (a[k] for k in ("mean1", "sd1", "n1", "mean2", "sd2", "n2"))
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = s1**2 / k1, s2**2 / k2
        diff = m1 - m2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (k1 - 1) + v2**2 / (k2 - 1))
        # Both SDs zero: no sampling variation to test against; report no test at all.
        t = np.where(se > 0, diff / se, np.nan)
        p = 2.0 * stats.t.sf(np.abs(t), df)
        half = stats.t.ppf(0.5 + conf / 2.0, df) * se
        dfp = k1 + k2 - 2
        sp = np.sqrt(((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / dfp)
        d = np.where(sp > 0, diff / sp, np.nan)
        j = 1.0 - 3.0 / (4.0 * dfp - 1.0)
        g = j * d
        g_se = j * np.sqrt((k1 + k2) / (k1 * k2) + d**2 / (2.0 * (k1 + k2)))
        zq = _z(conf)
        stats_cols = {
            "diff": diff, "se": se, "df": df, "t": t, "p": p,
            "ci_low": diff - half, "ci_high": diff + half,
            "hedges_g": g, "g_se": g_se, "g_ci_low": g - zq * g_se, "g_ci_high": g + zq * g_se,
        }
    _blank_missing_rows(stats_cols, a)
    out = pd.DataFrame({"mean1": m1, "mean2": m2, "n1": k1, "n2": k2, **stats_cols})
    idx = _result_index(mean1, sd1, n1, mean2, sd2, n2)
    if idx is not None and len(idx) == len(out):
        out.index = idx
    return out


def perception_gap(leader_stats: pd.DataFrame, staff_stats: pd.DataFrame, *,
                   conf: float = 0.95) -> pd.DataFrame:
    """Leader minus staff score, with a Welch CI and Hedges' g (see :func:`welch_change`).

    Parameters
    ----------
    leader_stats, staff_stats : DataFrame
        Aggregates with columns ``mean``, ``sd``, ``n`` and the same kind of index
        (e.g. unit x construct). Rows are matched on the index; a row present on
        one side only yields NaN statistics rather than silently disappearing.

    Returns
    -------
    The :func:`welch_change` table with ``mean1``/``mean2`` renamed
    ``leader_mean``/``staff_mean`` and ``n1``/``n2`` renamed ``leader_n``/``staff_n``;
    ``diff`` is leader minus staff.
    """
    problems: list[Problem] = []
    for name, frame in (("leader_stats", leader_stats), ("staff_stats", staff_stats)):
        if not isinstance(frame, pd.DataFrame):
            problems.append(Problem(name, "must be a DataFrame with columns mean, sd, n"))
            continue
        missing = [c for c in ("mean", "sd", "n") if c not in frame.columns]
        if missing:
            problems.append(Problem(name, f"missing column(s) {', '.join(missing)}; "
                                          "required: mean, sd, n"))
        if not frame.index.is_unique:
            problems.append(Problem(name, "index must be unique (one row per group)"))
    if problems:
        raise TrendInputError(problems, source="perception_gap")
    both = leader_stats[["mean", "sd", "n"]].add_suffix("_leader").join(
        staff_stats[["mean", "sd", "n"]].add_suffix("_staff"), how="outer")
    out = welch_change(both["mean_leader"], both["sd_leader"], both["n_leader"],
                       both["mean_staff"], both["sd_staff"], both["n_staff"], conf=conf)
    return out.rename(columns={"mean1": "leader_mean", "mean2": "staff_mean",
                               "n1": "leader_n", "n2": "staff_n"})


# --------------------------------------------------------------------------- paired


def paired_change(first: pd.Series, second: pd.Series, *, by: pd.Series | None = None,
                  conf: float = 0.95) -> pd.DataFrame:
    """Paired t for people linked across two waves by pseudonym.

    Pairs are formed by index alignment (the pseudonym); people present in one
    wave only are left out and counted in ``n_unpaired``. With differences
    ``d_i = first_i - second_i``: ``diff = mean(d)``, ``se = sd(d)/sqrt(n)``,
    ``t = diff/se``, ``df = n - 1``, two-sided ``p``, ``diff +/- t_{df} se``.
    Agrees with R ``t.test(x, y, paired = TRUE)``.

    Parameters
    ----------
    first, second : Series
        Scores indexed by pseudonym (e.g. later wave first). Missing scores are
        treated as not paired.
    by : Series, optional
        Group label per pseudonym (e.g. the unit); one output row per group. Pairs
        whose group is missing are left out.
    conf : float
        Confidence level.

    Returns
    -------
    DataFrame with columns ``n_pairs, n_unpaired, diff, sd_diff, se, df, t, p, ci_low,
    ci_high``; one row (index ``"all"``) or one per group of ``by``.
    """
    problems: list[Problem] = []
    _check_conf(conf, problems)
    for name, s in (("first", first), ("second", second)):
        if not isinstance(s, pd.Series):
            problems.append(Problem(name, "must be a Series indexed by pseudonym"))
        elif not s.index.is_unique:
            problems.append(Problem(name, "pseudonyms must be unique within a wave "
                                          f"({int(s.index.duplicated().sum())} repeated)"))
        elif not pd.api.types.is_numeric_dtype(s):
            problems.append(Problem(name, "must hold numeric scores"))
    if by is not None and (not isinstance(by, pd.Series) or not by.index.is_unique):
        problems.append(Problem("by", "must be a Series of group labels with unique pseudonyms"))
    if problems:
        raise TrendInputError(problems, source="paired_change")

    f = first.dropna().astype(np.float64)
    s = second.dropna().astype(np.float64)
    common = f.index.intersection(s.index)
    n_unpaired_total = len(f.index.union(s.index)) - len(common)
    d = f.loc[common] - s.loc[common]
    if by is None:
        groups = pd.Series("all", index=common)
        unpaired = pd.Series({"all": n_unpaired_total})
    else:
        groups = by.reindex(common)
        everyone = f.index.union(s.index)
        lone = everyone.difference(common)
        unpaired = by.reindex(lone).value_counts()
    agg = d.groupby(groups, sort=True).agg(["count", "mean", "std"])
    n = agg["count"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = agg["std"].to_numpy() / np.sqrt(n)
        t = agg["mean"].to_numpy() / se
        df = n - 1.0
        df = np.where(df >= 1, df, np.nan)
        p = 2.0 * stats.t.sf(np.abs(t), df)
        half = stats.t.ppf(0.5 + conf / 2.0, df) * se
    out = pd.DataFrame({
        "n_pairs": agg["count"].astype(np.int64),
        "n_unpaired": unpaired.reindex(agg.index).fillna(0).astype(np.int64),
        "diff": agg["mean"], "sd_diff": agg["std"], "se": se, "df": df, "t": t, "p": p,
        "ci_low": agg["mean"] - half, "ci_high": agg["mean"] + half,
    }, index=agg.index)
    out.index.name = None if by is None else by.name
    return out


# --------------------------------------------------------------------------- proportions


def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for a single proportion, vectorised."""
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def newcombe_diff(x1, n1, x2, n2, *, conf: float = 0.95) -> pd.DataFrame:
    """Difference of two independent proportions with Newcombe's hybrid score interval.

    ``diff = x1/n1 - x2/n2``. The interval is method 10 of Newcombe (1998,
    *Statistics in Medicine* 17:873-890): with Wilson limits ``(l_i, u_i)`` of each
    proportion, ``L = diff - sqrt((p1-l1)^2 + (u2-p2)^2)`` and
    ``U = diff + sqrt((u1-p1)^2 + (p2-l2)^2)``. Agrees with R
    ``DescTools::BinomDiffCI(x1, n1, x2, n2, method = "score")``.

    ``p`` is the two-sided pooled score test of equal proportions, identical to
    R ``prop.test(c(x1, x2), c(n1, n2), correct = FALSE)`` (so it can feed
    :func:`benjamini_hochberg`).

    Parameters
    ----------
    x1, n1, x2, n2 : array-like or Series
        Counts (e.g. favourable answers) and group sizes; broadcast together.
    conf : float
        Confidence level.

    Returns
    -------
    DataFrame with columns ``p1, p2, n1, n2, diff, ci_low, ci_high, p``.
    """
    problems: list[Problem] = []
    _check_conf(conf, problems)
    raw = {k: _as_float(v, k, problems) for k, v in dict(x1=x1, n1=n1, x2=x2, n2=n2).items()}
    a = _broadcast(raw, problems)
    _check_counts(a["n1"], "n1", 1, problems)
    _check_counts(a["n2"], "n2", 1, problems)
    for x, n in (("x1", "n1"), ("x2", "n2")):
        present = ~np.isnan(a[x])
        bad = present & ((a[x] < 0) | (a[x] != np.floor(a[x])) | (a[x] > a[n]))
        if bad.any():
            problems.append(Problem(x, f"{_rows(bad)}: must be a whole number between 0 and {n}"))
    if problems:
        raise TrendInputError(problems, source="newcombe_diff")

    z = _z(conf)
    k1, m1, k2, m2 = a["x1"], a["n1"], a["x2"], a["n2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / m1, k2 / m2
        l1, u1 = _wilson(k1, m1, z)
        l2, u2 = _wilson(k2, m2, z)
        diff = p1 - p2
        low = diff - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = diff + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
        pooled = (k1 + k2) / (m1 + m2)
        zstat = diff / np.sqrt(pooled * (1 - pooled) * (1 / m1 + 1 / m2))
        # Both proportions 0 or both 1: no evidence of a difference at all.
        zstat = np.where((pooled == 0) | (pooled == 1), 0.0, zstat)
        p = 2.0 * stats.norm.sf(np.abs(zstat))
    stats_cols = {"diff": diff, "ci_low": low, "ci_high": high, "p": p}
    _blank_missing_rows(stats_cols, a)
    out = pd.DataFrame({"p1": p1, "p2": p2, "n1": m1, "n2": m2, **stats_cols})
    idx = _result_index(x1, n1, x2, n2)
    if idx is not None and len(idx) == len(out):
        out.index = idx
    return out


# --------------------------------------------------------------------------- multiplicity


def benjamini_hochberg(p):
    """Benjamini-Hochberg (1995) adjusted p values ("q values").

    For the m non-missing p values sorted ascending, ``q_(i) = min_{k >= i} min(1, m p_(k) / k)``.
    NaN p values stay NaN and do not count towards m. Agrees with R
    ``p.adjust(p, method = "BH")``.

    Parameters
    ----------
    p : array-like or Series
        p values in [0, 1], any order. Every comparison in a release should be adjusted together.

    Returns
    -------
    Same shape as ``p``: a Series (same index) when given a Series, else an ndarray.
    """
    problems: list[Problem] = []
    arr = _as_float(p, "p", problems)
    bad = ~np.isnan(arr) & ~((arr >= 0) & (arr <= 1))
    if bad.any():
        problems.append(Problem("p", f"{_rows(bad)}: p values must lie in [0, 1]"))
    if problems:
        raise TrendInputError(problems, source="benjamini_hochberg")
    flat = arr.ravel()
    q = np.full(flat.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(flat))
    m = ok.size
    if m:
        order = ok[np.argsort(flat[ok], kind="mergesort")]
        ranked = flat[order] * m / np.arange(1, m + 1)
        # Step-up: cumulative minimum from the largest p downwards.
        q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    q = q.reshape(arr.shape)
    if isinstance(p, pd.Series):
        return pd.Series(q, index=p.index, name=p.name)
    return q


def classify_change(diff, q, *, min_change: float = 0.2, alpha: float = 0.05):
    """Plain-language verdict on a change.

    ``"significant and meaningful"`` when ``q < alpha`` and ``|diff| >= min_change``;
    ``"significant, small"`` when ``q < alpha`` only; ``"not significant"`` otherwise;
    ``"not tested"`` when ``diff`` or ``q`` is missing (e.g. a suppressed cell).

    Parameters
    ----------
    diff : array-like or Series
        The change (same units as ``min_change``, e.g. scale points).
    q : array-like or Series
        FDR-adjusted p values (see :func:`benjamini_hochberg`).
    min_change : float
        Smallest change worth acting on (>= 0).
    alpha : float
        FDR level, in (0, 1).

    Returns
    -------
    Series of labels from :data:`CHANGE_LABELS` (index of ``diff`` or ``q`` if a Series).
    """
    problems: list[Problem] = []
    if not (isinstance(min_change, int | float) and min_change >= 0):
        problems.append(Problem("min_change", "must be a number >= 0"))
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        problems.append(Problem("alpha", "must be a number strictly between 0 and 1"))
    d = _as_float(diff, "diff", problems)
    qq = _as_float(q, "q", problems)
    if d.shape != qq.shape:
        problems.append(Problem("diff, q", "must have the same length"))
    if problems:
        raise TrendInputError(problems, source="classify_change")
    sig = qq < alpha
    big = np.abs(d) >= min_change
    labels = np.select([np.isnan(d) | np.isnan(qq), sig & big, sig],
                       [CHANGE_LABELS[3], CHANGE_LABELS[0], CHANGE_LABELS[1]],
                       default=CHANGE_LABELS[2])
    return pd.Series(labels, index=_result_index(diff, q), name="verdict", dtype=object)


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


# --------------------------------------------------------------------------- mixed model


@dataclass(frozen=True)
class MixedTrend:
    """Linear mixed model of scores on time.

    Attributes
    ----------
    table : DataFrame
        Fixed effects: ``term`` (``intercept``, ``time``), ``estimate``, ``se``,
        ``z``, ``p``, ``ci_low``, ``ci_high`` (Wald, normal quantile).
    random : DataFrame
        Variance components: ``component`` (``sd_intercept``, ``sd_slope``,
        ``cor_intercept_slope``, ``sd_residual``), ``estimate``.
    method : ``"REML"`` or ``"ML"``.
    n_obs, n_groups : sizes of the data used.
    converged : whether the optimiser reported convergence.
    notes : caveats (dropped rows, optimiser warnings).
    """

    table: pd.DataFrame
    random: pd.DataFrame
    method: str
    n_obs: int
    n_groups: int
    converged: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def slope(self) -> float:
        return float(self.table.set_index("term").loc["time", "estimate"])

    def summary(self) -> str:
        row = self.table.set_index("term").loc["time"]
        lines = [f"Linear mixed model ({self.method}), {self.n_obs} observations in "
                 f"{self.n_groups} units",
                 f"trend per time unit: {row['estimate']:.3f} "
                 f"(SE {row['se']:.3f}; CI {row['ci_low']:.3f} to {row['ci_high']:.3f})"]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html
        return (f"<p>{html.escape(self.summary()).replace(chr(10), '<br>')}</p>"
                + self.table.to_html(index=False))


def mixed_trend(df: pd.DataFrame, *, value: str, time: str, group: str,
                random_slope: bool = True, reml: bool = True,
                conf: float = 0.95) -> MixedTrend:
    """Linear mixed model ``value ~ time + (1 [+ time] | group)``.

    Fitted with statsmodels ``MixedLM`` (unstructured random-effects covariance) on
    centred and scaled time and score, mapped back to the original units,
    equivalent to lme4 ``lmer(value ~ time + (time | group), REML = reml)``
    (Bates, Maechler, Bolker & Walker 2015, *J. Stat. Softw.* 67(1)). With
    ``random_slope=False`` it is ``(1 | group)``.

    Parameters
    ----------
    df : DataFrame
        Long data, one row per observation (e.g. unit x wave score).
    value, time, group : str
        Column names of the score, the numeric time (e.g. wave index) and the unit.
    random_slope : bool
        Let each unit have its own slope as well as its own intercept.
    reml : bool
        Restricted maximum likelihood (lme4's default) or full ML.
    conf : float
        Confidence level of the Wald intervals.

    Returns
    -------
    :class:`MixedTrend`
    """
    import statsmodels.api as sm

    problems: list[Problem] = []
    _check_conf(conf, problems)
    if not isinstance(df, pd.DataFrame):
        raise TrendInputError([Problem("df", "must be a DataFrame")], source="mixed_trend")
    for param, col in (("value", value), ("time", time), ("group", group)):
        if col not in df.columns:
            problems.append(Problem(param, f"column {col!r} not found in df"))
    for param, col in (("value", value), ("time", time)):
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            problems.append(Problem(param, f"column {col!r} must be numeric"))
    if problems:
        raise TrendInputError(problems, source="mixed_trend")

    notes: list[str] = []
    data = df[[value, time, group]].dropna()
    if len(data) < len(df):
        notes.append(f"{len(df) - len(data)} row(s) with a missing value, time or unit left out")
    n_groups = int(data[group].nunique())
    n_fe = 2
    if n_groups < 3 or len(data) < n_fe + (3 if random_slope else 1) + 1:
        raise InsufficientDataError(
            f"mixed_trend: {len(data)} observation(s) in {n_groups} unit(s); at least 3 units "
            "and more observations than parameters are needed")

    y = data[value].to_numpy(np.float64)
    t = data[time].to_numpy(np.float64)
    if np.unique(t).size < 2:
        raise InsufficientDataError("mixed_trend: all observations are at the same time; "
                                    "a trend needs at least two distinct times")
    if np.ptp(y) == 0:
        raise TrendInputError([Problem("value", f"column {value!r} does not vary; "
                                                "there is no trend to model")],
                              source="mixed_trend")
    # Fit on centred/scaled time and score: the optimiser then converges on data where
    # the raw scale fails (slope variances ~1e-4 next to intercept variances ~0.1).
    # REML/ML are invariant to this affine reparametrisation; estimates are mapped back.
    t_mid, t_scale = t.mean(), t.std()
    y_mid, y_scale = y.mean(), y.std()
    ts = (t - t_mid) / t_scale
    exog = np.column_stack([np.ones_like(ts), ts])
    exog_re = exog if random_slope else exog[:, :1]
    model = sm.MixedLM((y - y_mid) / y_scale, exog, groups=data[group].to_numpy(),
                       exog_re=exog_re)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=reml)
    for w in caught:
        msg = str(w.message).splitlines()[0]
        if msg not in notes:
            notes.append(msg)
    converged = bool(getattr(fit, "converged", True))
    if not converged:
        notes.append("optimiser did not report convergence; treat estimates with caution")

    # b_original = y_mid * e1 + A b_scaled, and the same A maps random effects.
    a_map = y_scale * np.array([[1.0, -t_mid / t_scale], [0.0, 1.0 / t_scale]])
    est = a_map @ np.asarray(fit.fe_params, dtype=np.float64) + np.array([y_mid, 0.0])
    cov_fe = a_map @ np.asarray(fit.cov_params(), dtype=np.float64)[:2, :2] @ a_map.T
    se = np.sqrt(np.diag(cov_fe))
    zq = _z(conf)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = est / se
    table = pd.DataFrame({"term": ["intercept", "time"], "estimate": est, "se": se,
                          "z": zval, "p": 2 * stats.norm.sf(np.abs(zval)),
                          "ci_low": est - zq * se, "ci_high": est + zq * se})
    re_map = a_map if random_slope else a_map[:1, :1]
    cov = re_map @ np.asarray(fit.cov_re, dtype=np.float64) @ re_map.T
    comps = {"sd_intercept": np.sqrt(cov[0, 0])}
    if random_slope:
        comps["sd_slope"] = np.sqrt(cov[1, 1])
        denom = np.sqrt(cov[0, 0] * cov[1, 1])
        comps["cor_intercept_slope"] = cov[0, 1] / denom if denom > 0 else np.nan
    comps["sd_residual"] = y_scale * np.sqrt(fit.scale)
    random = pd.DataFrame({"component": list(comps), "estimate": list(comps.values())})
    return MixedTrend(table=table, random=random, method="REML" if reml else "ML",
                      n_obs=len(data), n_groups=n_groups, converged=converged,
                      notes=tuple(notes))
