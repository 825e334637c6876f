"""Change between waves: is a movement real, and how large is it?

Pure functions over plain arrays and DataFrames. Every two-sample statistic
reports ``diff = group 1 - group 2`` (R's ``t.test(x, y)`` convention), so for a
change between waves pass the *later* wave first.

Functions
---------
welch_change        Welch t on summary statistics + Hedges' g (vectorised)
paired_change       paired t for people linked across waves by pseudonym
overlap_change      partially overlapping samples t (Derrick et al. 2017)
newcombe_diff       difference of two proportions, Newcombe hybrid score CI (vectorised)
benjamini_hochberg  BH false-discovery-rate q values
classify_change     plain-language verdict from a difference and its q value
perception_gap      leader minus staff score with a Welch CI

Missing inputs (e.g. a suppressed cell) propagate as NaN in the output row; values
that are present but impossible (negative SD, n < 2, x > n, ...) raise
:class:`~culture.errors.TrendInputError` listing every problem at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from culture.errors import (
    Problem,
    TrendInputError,
)

CHANGE_LABELS = (
    "significant and meaningful",
    "significant, small",
    "not significant",
    "not tested",
)



# --------------------------------------------------------------------------- helpers


def as_float(values, name: str, problems: list[Problem]) -> np.ndarray:
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


def check_conf(conf: float, problems: list[Problem]) -> None:
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


def z_quantile(conf: float) -> float:
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
    check_conf(conf, problems)
    raw = {k: as_float(v, k, problems) for k, v in
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
        zq = z_quantile(conf)
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
    check_conf(conf, problems)
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


# --------------------------------------------------------------------------- overlapping samples


def overlap_change(mean1, sd1, n1, mean2, sd2, n2, n_paired, r, *, equal_var: bool = False,
                   conf: float = 0.95) -> pd.DataFrame:
    """Partially overlapping samples t test: two waves in which some people answered both.

    With ``n_c`` people in both samples (``n_paired``) whose scores correlate ``r``,
    ``n_a = n1 - n_c`` and ``n_b = n2 - n_c`` people in one sample only, and ``s1, s2`` the
    SDs of all answers of each sample (Derrick, Russ, Toher & White 2017, *J. Mod. Appl.
    Stat. Methods* 16(1):137-157):

    * separate variances (default, "T_new2"): ``se^2 = s1^2/n1 + s2^2/n2 - 2 r s1 s2 n_c/(n1 n2)``,
      ``df = (n_c - 1) + (g - n_c + 1)(n_a + n_b)/(n_a + n_b + 2 n_c)`` with ``g`` the
      Welch-Satterthwaite df;
    * ``equal_var=True`` ("T_new1"): pooled ``sp``, ``se = sp sqrt(1/n1 + 1/n2 - 2 r n_c/(n1 n2))``,
      ``df = (n_c - 1) + (n_a + n_b + n_c - 1)(n_a + n_b)/(n_a + n_b + 2 n_c)``.

    ``diff = mean1 - mean2``, ``t = diff/se``, two-sided ``p``, ``diff +/- t_df se``. With
    ``n_c = 0`` this is exactly Welch's (Student's) test and with ``n_a = n_b = 0`` the paired
    t test. Agrees with R ``Partiallyoverlapping::Partover.test(x1, x2, x3, x4, var.equal)``.

    Parameters
    ----------
    mean1, sd1, n1, mean2, sd2, n2 : array-like
        Mean, SD and size of *all* answers of each sample (broadcast together).
    n_paired, r : array-like
        People in both samples and the correlation of their two answers (``r`` is ignored
        where ``n_paired`` is 0).

    Returns
    -------
    DataFrame with columns ``diff, se, t, df, p, ci_low, ci_high``.
    """
    problems: list[Problem] = []
    a = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in dict(
        m1=mean1, s1=sd1, n1=n1, m2=mean2, s2=sd2, n2=n2, nc=n_paired, r=r).items()}
    try:
        a = dict(zip(a, np.broadcast_arrays(*a.values()), strict=True))
    except ValueError:
        raise TrendInputError([Problem("overlap_change", "inputs must have the same length")],
                                 source="overlap_change") from None
    nc = np.nan_to_num(a["nc"])
    if (nc < 0).any() or (nc > np.fmin(a["n1"], a["n2"])).any():
        problems.append(Problem("n_paired", "must lie between 0 and the smaller sample size"))
    if (np.abs(a["r"][nc > 0]) > 1).any():
        problems.append(Problem("r", "must lie in [-1, 1]"))
    if not 0 < conf < 1:
        problems.append(Problem("conf", "must be strictly between 0 and 1"))
    if problems:
        raise TrendInputError(problems, source="overlap_change")
    s1, s2, n1_, n2_ = a["s1"], a["s2"], a["n1"], a["n2"]
    r_ = np.where(nc > 0, a["r"], 0.0)
    na, nb = n1_ - nc, n2_ - nc
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = 2 * r_ * nc / (n1_ * n2_)
        if equal_var:
            sp = np.sqrt(((n1_ - 1) * s1**2 + (n2_ - 1) * s2**2) / (n1_ + n2_ - 2))
            se = sp * np.sqrt(1 / n1_ + 1 / n2_ - cross)
            df = (nc - 1) + (na + nb + nc - 1) * (na + nb) / (na + nb + 2 * nc)
        else:
            v1, v2 = s1**2 / n1_, s2**2 / n2_
            se = np.sqrt(v1 + v2 - cross * s1 * s2)
            welch_df = (v1 + v2) ** 2 / (v1**2 / (n1_ - 1) + v2**2 / (n2_ - 1))
            df = (nc - 1) + (welch_df - nc + 1) * (na + nb) / (na + nb + 2 * nc)
        diff = a["m1"] - a["m2"]
        t = np.where(se > 0, diff / se, np.nan)
        p = 2 * stats.t.sf(np.abs(t), df)
        half = stats.t.ppf(0.5 + conf / 2, df) * se
    return pd.DataFrame({"diff": diff, "se": se, "t": t, "df": df, "p": p,
                         "ci_low": diff - half, "ci_high": diff + half})


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
    check_conf(conf, problems)
    raw = {k: as_float(v, k, problems) for k, v in dict(x1=x1, n1=n1, x2=x2, n2=n2).items()}
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

    z = z_quantile(conf)
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
    arr = as_float(p, "p", problems)
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
    d = as_float(diff, "diff", problems)
    qq = as_float(q, "q", problems)
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
