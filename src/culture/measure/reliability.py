"""Reliability and agreement of the survey instrument.

=========================  ==========================================  =============================
function                   statistic                                   reference
=========================  ==========================================  =============================
:func:`alpha`              Cronbach's alpha (raw, standardised),       ``psych::alpha(x)``
                           Guttman lambda-6, Feldt and Duhachek CIs,
                           item-total and alpha-if-deleted
:func:`omega`              omega hierarchical / total via              ``psych::omega(x, nfactors)``
                           Schmid-Leiman (minres + oblimin)
:func:`omega_total`        McDonald's omega from a one-factor model    McDonald (1999), ch. 6
:func:`icc`                ICC(1), ICC(2) from a one-way ANOVA         ``multilevel::ICC1/ICC2``
:func:`rwg_j`              within-group agreement r_wg(j)              ``multilevel::rwg.j``
=========================  ==========================================  =============================

Structure (CFA, invariance) is in :mod:`culture.measure.structure`. Item data are
respondent-level and stay inside the confidentiality boundary; everything
returned here is an aggregate over respondents. Error messages name columns and
counts, never an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from culture.errors import ConfigError, Problem, PsychometricsInputError
from culture.measure.factoring import minres, oblimin, varimax
from culture.measure.inputs import (
    check_level,
    cov2cor,
    numeric_frame,
    pairwise_cov,
    raise_problems,
    require_frame,
    smc,
)
from culture.measure.instrument import Instrument
from culture.results import Result

# ---------------------------------------------------------------------------
# Cronbach's alpha
# ---------------------------------------------------------------------------

def _alpha_core(c: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """The statistics ``psych::alpha`` computes from one covariance/correlation pair (its ``alpha.1``)."""
    k = c.shape[0]
    sum_c, sum_r = c.sum(), r.sum()
    tr_c = np.trace(c)
    av_r = (sum_r - k) / (k * (k - 1))
    off = r[np.tril_indices(k, -1)]
    cc = c @ c
    # Duhachek & Iacobucci (2004) asymptotic variance of alpha, as corrected in psych 1.6.
    q = (2 * k**2 / ((k - 1) ** 2 * sum_c**3)) * (sum_c * (np.trace(cc) + tr_c**2)
                                                   - 2 * tr_c * cc.sum())
    return {
        "raw_alpha": (1 - tr_c / sum_c) * k / (k - 1),
        "std_alpha": (1 - k / sum_r) * k / (k - 1),
        "g6": 1 - (k - smc(r).sum()) / sum_r,
        "average_r": av_r,
        "median_r": float(np.median(off)),
        "s_n": k * av_r / (1 - av_r),
        "q": q,
    }


@dataclass(frozen=True)
class AlphaResult(Result):
    """Cronbach's alpha and item analysis (see :func:`alpha`).

    Attributes
    ----------
    total : one-row DataFrame: ``n_items, n_obs, raw_alpha, std_alpha, g6, average_r, median_r,
        s_n, ase, mean, sd, ci_level, ci_low, ci_high`` (Feldt), ``duhachek_low, duhachek_high``.
    items : one row per item: ``item, n, raw_r, std_r, r_cor, r_drop, mean, sd,
        alpha_if_deleted, std_alpha_if_deleted, g6_if_deleted, average_r_if_deleted,
        s_n_if_deleted, alpha_se_if_deleted``.
    notes : plain-language caveats (dropped items, ...).
    provenance : method, the R call it agrees with, and the options used.
    """

    total: pd.DataFrame
    items: pd.DataFrame
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        return self.items

    @property
    def raw_alpha(self) -> float:
        return float(self.total["raw_alpha"].iloc[0])

    def summary(self) -> str:
        t = self.total.iloc[0]
        lines = [f"Cronbach's alpha = {t.raw_alpha:.3f} (standardised {t.std_alpha:.3f}), "
                 f"{t.ci_level:.0%} CI {t.ci_low:.3f} to {t.ci_high:.3f} (Feldt); "
                 f"lambda-6 = {t.g6:.3f}; mean inter-item r = {t.average_r:.3f}; "
                 f"{int(t.n_items)} items, {int(t.n_obs)} respondents."]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)



def pairwise_alpha(items: pd.DataFrame | np.ndarray) -> float:
    """Raw Cronbach's alpha from pairwise-complete covariances, alone (``psych::alpha``'s
    ``raw_alpha``); for many constructs over many respondents, where :func:`alpha`'s item
    statistics are not needed.

    Three matrix products give every pair's count, cross-products and sums over the rows
    where both items are answered, so the cost is one pass of BLAS over the item block.
    """
    x = np.asarray(items, dtype=np.float64)
    answered = ~np.isnan(x)
    x0 = np.where(answered, x, 0.0)
    m = answered.astype(np.float64)
    n = m.T @ m                        # rows answering both i and j
    sums = x0.T @ m                    # sum of x_i over the rows that also answer j
    cov = (x0.T @ x0 - sums * sums.T / n) / (n - 1)
    k = x.shape[1]
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum()))


def alpha(items: pd.DataFrame, *, ci_level: float = 0.95) -> AlphaResult:
    """Cronbach's alpha with item statistics, computed as ``psych::alpha(items)`` does.

    Items must already be keyed in one direction; NaN is a missing answer.
    Covariances C and correlations R are pairwise-complete (psych's ``use="pairwise"``).

    * raw alpha = k/(k-1) * (1 - tr(C)/sum(C)) (Cronbach 1951);
      standardised alpha = k/(k-1) * (1 - k/sum(R)).
    * Guttman's lambda-6 = 1 - (k - sum(smc))/sum(R), smc = squared multiple correlations.
    * ase = sqrt(Q/n), Q from Duhachek & Iacobucci (2004); Duhachek CI = alpha -/+ z*ase.
    * Feldt CI: 1 - (1 - alpha) * F_{1-p/2, p/2}(n-1, (n-1)(k-1)) (Feldt, Woodruff & Salih 1987),
      n = number of rows given (as psych).
    * item ``raw_r`` = r(item, row mean of the items); ``std_r`` and ``r_cor`` (overlap
      corrected with smc) from R; ``r_drop`` = corrected item-total from C.

    Items with no variance are dropped (psych warns and does the same) and named in ``notes``.

    Parameters
    ----------
    items : DataFrame, one column per item, one row per respondent.
    ci_level : confidence level of the Feldt and Duhachek intervals.

    Raises
    ------
    PsychometricsInputError
        Non-numeric columns, fewer than 2 items or 3 rows, items never answered together.
    """
    check_level(ci_level)
    problems: list[Problem] = []
    x = numeric_frame(items, name="items", min_cols=2, min_rows=3, problems=problems)
    x = require_frame(x, problems)
    notes: list[str] = []
    sd = x.std()
    flat = [str(c) for c in sd.index[~(sd > 0)]]
    if flat:
        notes.append(f"item(s) {', '.join(flat)} had no variance and were left out")
        x = x.drop(columns=sd.index[~(sd > 0)])
        if x.shape[1] < 2:
            raise_problems([Problem("items", "fewer than 2 items with any variance remain")])
    c = pairwise_cov(x, problems, "items")
    raise_problems(problems)
    # Pairwise Pearson correlations (current psych); note cov2cor(C) differs from them
    # when answers are missing, and older psych versions used cov2cor(C).
    r = x.corr().to_numpy()
    k, n = x.shape[1], len(x)
    core = _alpha_core(c, r)

    total_score = x.mean(axis=1)  # row means over answered items, as psych (cumulative=FALSE)
    z = stats.norm.ppf(0.5 + ci_level / 2)
    p = 1 - ci_level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    ase = float(np.sqrt(core["q"] / n))
    total = pd.DataFrame([{
        "n_items": k, "n_obs": n,
        "raw_alpha": core["raw_alpha"], "std_alpha": core["std_alpha"], "g6": core["g6"],
        "average_r": core["average_r"], "median_r": core["median_r"], "s_n": core["s_n"],
        "ase": ase, "mean": float(total_score.mean()), "sd": float(total_score.std()),
        "ci_level": float(ci_level),
        "ci_low": 1 - (1 - core["raw_alpha"]) * stats.f.ppf(1 - p / 2, df1, df2),
        "ci_high": 1 - (1 - core["raw_alpha"]) * stats.f.ppf(p / 2, df1, df2),
        "duhachek_low": core["raw_alpha"] - z * ase,
        "duhachek_high": core["raw_alpha"] + z * ase,
    }])

    # per-item statistics (a loop over items, never over respondents)
    sum_r = r.sum()
    rc = r.copy()
    np.fill_diagonal(rc, smc(r))
    col_c = c.sum(axis=0)
    drops = []
    for i in range(k):
        keep = np.arange(k) != i
        if k > 2:
            d = _alpha_core(c[np.ix_(keep, keep)], r[np.ix_(keep, keep)])
            drops.append((d["raw_alpha"], d["std_alpha"], d["g6"], d["average_r"], d["s_n"],
                          np.sqrt(d["q"] / n)))
        else:  # one item left: no alpha to report
            drops.append((np.nan,) * 6)
    drops_a = np.array(drops, dtype="float64")
    table = pd.DataFrame({
        "item": [str(col) for col in x.columns],
        "n": x.notna().sum().to_numpy(),
        "raw_r": x.corrwith(total_score).to_numpy(),
        "std_r": r.sum(axis=0) / np.sqrt(sum_r),
        "r_cor": rc.sum(axis=0) / np.sqrt(rc.sum()),
        "r_drop": (col_c - np.diag(c)) / np.sqrt(np.diag(c) * (c.sum() - 2 * col_c + np.diag(c))),
        "mean": x.mean().to_numpy(),
        "sd": x.std().to_numpy(),
        "alpha_if_deleted": drops_a[:, 0],
        "std_alpha_if_deleted": drops_a[:, 1],
        "g6_if_deleted": drops_a[:, 2],
        "average_r_if_deleted": drops_a[:, 3],
        "s_n_if_deleted": drops_a[:, 4],
        "alpha_se_if_deleted": drops_a[:, 5],
    })
    if k == 2:
        notes.append("with 2 items alpha-if-deleted is undefined")
    return AlphaResult(total=total, items=table, notes=tuple(notes), provenance={
        "method": "Cronbach's alpha, pairwise-complete covariances and correlations",
        "agrees_with": "R psych::alpha(x)", "ci": "Feldt and Duhachek", "ci_level": float(ci_level)})



# ---------------------------------------------------------------------------
# omega
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OmegaResult(Result):
    """McDonald's omega from a Schmid-Leiman solution (see :func:`omega`).

    Attributes
    ----------
    total : one-row DataFrame: ``n_items, n_obs, n_factors, omega_h, omega_h_asymptotic,
        omega_total, alpha, g6, ecv``.
    loadings : one row per item: ``item, reversed, g, F1*, ..., h2, u2, p2``.
    phi : correlations of the oblique group factors (before the Schmid-Leiman step).
    notes : caveats (two-factor identification, flipped items).
    provenance : method, the R call it agrees with, and the options used.
    """

    total: pd.DataFrame
    loadings: pd.DataFrame
    phi: pd.DataFrame
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        return self.loadings

    def summary(self) -> str:
        t = self.total.iloc[0]
        lines = [f"omega hierarchical = {t.omega_h:.3f}, omega total = {t.omega_total:.3f}, "
                 f"alpha = {t.alpha:.3f} ({int(t.n_items)} items, {int(t.n_factors)} group factors)."]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)



def _correlation_input(items: pd.DataFrame, *, is_correlation: bool, min_cols: int
                       ) -> tuple[np.ndarray, list[str], float]:
    problems: list[Problem] = []
    if is_correlation:
        x = numeric_frame(items, name="items", min_cols=min_cols, min_rows=min_cols,
                           problems=problems)
        x = require_frame(x, problems)
        r = x.to_numpy()
        if r.shape[0] != r.shape[1] or not np.allclose(r, r.T, atol=1e-8) or np.isnan(r).any():
            raise_problems([Problem("items", "is_correlation=True needs a square, symmetric matrix "
                                     "without missing values")])
        return cov2cor(r), [str(c) for c in x.columns], np.nan
    x = numeric_frame(items, name="items", min_cols=min_cols, min_rows=3, problems=problems)
    x = require_frame(x, problems)
    c = pairwise_cov(x, problems, "items")
    if not problems and (np.diag(c) <= 0).any():
        flat = [str(col) for col, v in zip(x.columns, np.diag(c), strict=True) if v <= 0]
        problems.append(Problem("items", f"item(s) {flat} have no variance"))
    raise_problems(problems)
    return x.corr().to_numpy(), [str(col) for col in x.columns], float(len(x))


def omega(items: pd.DataFrame, *, n_factors: int = 3, option: str = "equal",
          is_correlation: bool = False) -> OmegaResult:
    """Omega hierarchical and omega total as ``psych::omega(items, nfactors=n_factors)``.

    Steps (psych ``omegah``/``schmid``): pairwise correlations R; ``n_factors`` minres
    factors, varimax, then oblimin (quartimin); a single minres factor of the factor
    correlations gives the g loadings of the group factors (with two factors psych's
    ``option="equal"`` sets both to sqrt(phi12)); items load g_i = F_i . g and on group
    factor j with F_ij * sqrt(1 - g_j^2) (Schmid & Leiman 1957). Items with a negative g
    loading are reversed (psych ``flip=TRUE``). With Vt = sum(R) of the flipped matrix:

    * omega_h = (sum g)^2 / Vt;  omega_total = 1 - sum(u2)/Vt, u2 = 1 - communality;
    * omega_h_asymptotic = (sum g)^2 / (Vt - sum u2); alpha and lambda-6 from R.

    Reference: Revelle & Zinbarg (2009); Revelle, *Psychometric Theory*, ch. 7.

    Parameters
    ----------
    items : raw item data (rows = respondents) or, with ``is_correlation=True``, a
        correlation matrix.
    n_factors : number of group factors (>= 2; 3 identifies the hierarchical model).
    option : with 2 group factors: ``"equal"``, ``"first"`` or ``"second"`` (psych's option).
    """
    if isinstance(n_factors, bool) or not isinstance(n_factors, int) or n_factors < 2:
        raise ConfigError(f"parameter 'n_factors' must be an integer >= 2, got {n_factors!r}; "
                          "for a single construct use omega_total()")
    if option not in ("equal", "first", "second"):
        raise ConfigError(f"parameter 'option' must be 'equal', 'first' or 'second', got {option!r}")
    r, names, n_obs = _correlation_input(items, is_correlation=is_correlation,
                                         min_cols=n_factors + 1)
    k = r.shape[0]
    notes: list[str] = []
    orth = varimax(minres(r, n_factors))
    pattern, phi = oblimin(orth)
    if n_factors > 2:
        gload = minres(phi, 1)[:, 0]
    else:
        p12 = phi[0, 1]
        gload = {"equal": np.array([np.sqrt(abs(p12)), np.sign(p12) * np.sqrt(abs(p12))]),
                 "first": np.array([1.0, p12]), "second": np.array([p12, 1.0])}[option]
        notes.append("three group factors are needed to identify omega_h; with two, the general "
                     f"factor loadings were fixed by option={option!r}")
    g = pattern @ gload
    h2 = (orth**2).sum(axis=1)
    u2 = 1.0 - h2
    group = np.sign(pattern) * np.sqrt(np.clip(pattern**2 * (1 - gload**2), 0, None))
    p2 = g**2 / h2
    key = np.where(np.sign(g) == 0, 1.0, np.sign(g))
    if (key < 0).any():
        notes.append("items with negative general-factor loadings were reversed: "
                     + ", ".join(n for n, kk in zip(names, key, strict=True) if kk < 0))
        r = r * np.outer(key, key)
        g, group = g * key, group * key[:, None]
    vt = r.sum()
    gsq = g.sum() ** 2
    ev = np.concatenate([[(g**2).sum()], (group**2).sum(axis=0)])
    total = pd.DataFrame([{
        "n_items": k, "n_obs": n_obs, "n_factors": n_factors,
        "omega_h": gsq / vt,
        "omega_h_asymptotic": gsq / (vt - u2.sum()),
        "omega_total": (vt - u2.sum()) / vt,
        "alpha": (vt - np.trace(r)) / vt * k / (k - 1),
        "g6": (vt + smc(r).sum() - np.trace(r)) / vt,
        "ecv": ev[0] / ev.sum(),
    }])
    fac = [f"F{j + 1}*" for j in range(n_factors)]
    loadings = pd.DataFrame(group, columns=fac)
    loadings.insert(0, "g", g)
    loadings.insert(0, "reversed", key < 0)
    loadings.insert(0, "item", names)
    loadings["h2"], loadings["u2"], loadings["p2"] = h2, u2, p2
    fnames = [f"F{j + 1}" for j in range(n_factors)]
    return OmegaResult(total=total, loadings=loadings,
                       phi=pd.DataFrame(phi, index=fnames, columns=fnames), notes=tuple(notes),
                       provenance={"method": "Schmid-Leiman of minres + oblimin factors",
                                   "agrees_with": f"R psych::omega(x, nfactors={n_factors})",
                                   "option": option, "input": "correlation" if is_correlation
                                   else "data"})


def omega_total(items: pd.DataFrame) -> float:
    """McDonald's omega total for one construct from a one-factor minres model.

    omega_t = (sum l)^2 / ((sum l)^2 + sum(1 - l^2)), l the standardised loadings of a
    single minres factor of the pairwise correlation matrix (McDonald 1999, *Test
    theory*, ch. 6; ``psych::omega(x, nfactors=1)`` uses the same one-factor model
    but divides by the observed total variance). Needs at least 3 items.
    """
    r, _, _ = _correlation_input(items, is_correlation=False, min_cols=3)
    lam = minres(r, 1)[:, 0]
    s = lam.sum()
    return float(s**2 / (s**2 + (1 - lam**2).sum()))



# ---------------------------------------------------------------------------
# aggregation: ICC(1), ICC(2), r_wg(j)
# ---------------------------------------------------------------------------

def _aligned(values: pd.Series, groups: pd.Series, name: str, problems: list[Problem]) -> None:
    if not isinstance(groups, pd.Series):
        raise ConfigError(f"parameter 'groups' must be a pandas Series, got {type(groups).__name__}")
    if not values.index.equals(groups.index):
        problems.append(Problem("groups", f"index does not match the index of {name!r}"))


def icc(values: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """ICC(1) and ICC(2) of a variable nested in groups, from a one-way ANOVA (Bliese 2000).

    ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW), k = N / J the mean group size;
    ICC(2) = (MSB - MSW) / MSB, the reliability of group means. Agrees with
    ``multilevel::ICC1(aov(values ~ as.factor(groups)))`` and ``ICC2``; with balanced data
    these are Shrout & Fleiss's ICC(1,1) and ICC(1,k). Rows with a missing value or
    group are left out.

    Returns
    -------
    One-row DataFrame: ``n_obs, n_groups, mean_group_size, ms_between, ms_within, f,
    p_value, icc1, icc2``.
    """
    if not isinstance(values, pd.Series):
        raise ConfigError(f"parameter 'values' must be a pandas Series, got {type(values).__name__}")
    problems: list[Problem] = []
    _aligned(values, groups, "values", problems)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        problems.append(Problem("values", "must be numeric"))
    raise_problems(problems)
    ok = values.notna() & groups.notna()
    v, g = values[ok].astype("float64"), groups[ok]
    n, j = len(v), g.nunique()
    if j < 2 or n <= j:
        raise_problems([Problem("groups", f"needs at least 2 groups and more observations than groups; "
                                  f"got {j} group(s) and {n} observation(s)")])
    gmean = v.groupby(g).transform("mean")
    ss_b = float(((gmean - v.mean()) ** 2).sum())
    ss_w = float(((v - gmean) ** 2).sum())
    msb, msw = ss_b / (j - 1), ss_w / (n - j)
    k = n / j
    f = msb / msw if msw > 0 else np.inf
    return pd.DataFrame([{
        "n_obs": n, "n_groups": j, "mean_group_size": k, "ms_between": msb, "ms_within": msw,
        "f": f, "p_value": float(stats.f.sf(f, j - 1, n - j)),
        "icc1": (msb - msw) / (msb + (k - 1) * msw), "icc2": (msb - msw) / msb,
    }])


def rwg_j(items: pd.DataFrame, groups: pd.Series, *, n_options: int) -> pd.DataFrame:
    """Within-group agreement r_wg(j) for a multi-item scale (James, Demaree & Wolf 1984).

    r_wg(j) = J (1 - s2/sigma2) / (J (1 - s2/sigma2) + s2/sigma2), where s2 is the mean
    of the J item variances within the group and sigma2 = (A^2 - 1)/12 the variance of
    a uniform ("no agreement") null on A response options. As ``multilevel::rwg.j(items,
    groups, ranvar=(A^2-1)/12)``: rows with any missing item are left out, values are set
    to 0 when s2 > sigma2, and groups of one person get NaN.

    Returns
    -------
    One row per group: ``group, n, n_items, mean_item_variance, rwg_j``.
    """
    if isinstance(n_options, bool) or not isinstance(n_options, int) or n_options < 2:
        raise ConfigError(f"parameter 'n_options' must be an integer >= 2, got {n_options!r}")
    problems: list[Problem] = []
    x = numeric_frame(items, name="items", min_cols=1, min_rows=2, problems=problems)
    x = require_frame(x, problems)
    _aligned(x.iloc[:, 0], groups, "items", problems)
    raise_problems(problems)
    ok = x.notna().all(axis=1) & groups.notna()
    x, g = x[ok], groups[ok]
    sigma2 = (n_options**2 - 1) / 12
    n_j = x.shape[1]
    mv = x.groupby(g).var(ddof=1).mean(axis=1)
    ratio = mv / sigma2
    r = n_j * (1 - ratio) / (n_j * (1 - ratio) + ratio)
    r = r.where(mv.isna() | (mv <= sigma2), 0.0)  # NaN (one member) stays NaN
    size = g.value_counts().reindex(mv.index)
    return pd.DataFrame({"group": mv.index, "n": size.to_numpy(), "n_items": n_j,
                         "mean_item_variance": mv.to_numpy(), "rwg_j": r.to_numpy()})


# ---------------------------------------------------------------------------
# the instrument: reliability per construct, item statistics, flags
# ---------------------------------------------------------------------------

def _keyed_construct(responses: pd.DataFrame, instrument: Instrument, construct_id: str
                     ) -> pd.DataFrame:
    """Item columns of one construct, reverse-keyed (code -> min + max - code)."""
    ids = [i.id for i in instrument.items_of(construct_id)]
    x = responses[ids].astype("float64")
    # declared non-substantive answers ("don't know") carry no position on the scale
    x = x.mask(x.isin(list(instrument.scale.non_substantive)))
    rev = [i.id for i in instrument.items_of(construct_id) if i.reverse]
    if rev:
        x[rev] = instrument.scale.min + instrument.scale.max - x[rev]
    return x[x.notna().any(axis=1)]


def _check_responses(responses: object, instrument: Instrument) -> None:
    if not isinstance(responses, pd.DataFrame):
        raise ConfigError(f"parameter 'responses' must be a pandas DataFrame, got "
                          f"{type(responses).__name__}")
    if not isinstance(instrument, Instrument):
        raise ConfigError(f"parameter 'instrument' must be an Instrument, got {type(instrument).__name__}")
    problems: list[Problem] = []
    lo, hi = instrument.scale.min, instrument.scale.max
    for item in instrument.items:
        if item.id not in responses.columns:
            problems.append(Problem(f"column {item.id!r}", "item column is missing from the responses"))
            continue
        col = responses[item.id]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            problems.append(Problem(f"column {item.id!r}", "item codes must be numeric (NaN = missing)"))
            continue
        col = col.mask(col.isin(list(instrument.scale.non_substantive)))
        bad = int((col.notna() & ((col < lo) | (col > hi) | (col % 1 != 0))).sum())
        if bad:
            problems.append(Problem(f"column {item.id!r}", f"{bad} value(s) are neither codes "
                                    f"{lo}..{hi} nor a declared non-substantive code"))
    raise_problems(problems, source=instrument.source)


def instrument_reliability(responses: pd.DataFrame, instrument: Instrument, *,
                           ci_level: float = 0.95) -> pd.DataFrame:
    """Reliability of every construct of an instrument.

    For each construct the item columns are reverse-keyed (code -> min + max - code),
    declared non-substantive codes (e.g. 9 = "don't know") count as missing,
    respondents who answered none of its items are left out, and :func:`alpha` and
    :func:`omega_total` are computed.

    Returns
    -------
    One row per construct: ``construct, n_items, n_respondents, alpha, ci_low, ci_high``
    (Feldt), ``std_alpha, omega_total, average_r, worst_item, alpha_if_worst_deleted, note``.
    ``worst_item`` is the item whose removal gives the highest alpha.
    """
    _check_responses(responses, instrument)
    check_level(ci_level)
    rows = []
    for c in instrument.constructs:
        x = _keyed_construct(responses, instrument, c.id)
        row: dict[str, object] = {"construct": c.id, "n_items": x.shape[1], "n_respondents": len(x)}
        try:
            a = alpha(x, ci_level=ci_level)
        except PsychometricsInputError as exc:
            rows.append({**row, "note": "; ".join(p.message for p in exc.problems)})
            continue
        t = a.total.iloc[0]
        worst = a.items.loc[a.items["alpha_if_deleted"].idxmax()] \
            if a.items["alpha_if_deleted"].notna().any() else None
        kept = list(a.items["item"])  # alpha leaves out items without variance
        om = omega_total(x[kept]) if len(kept) >= 3 else np.nan
        rows.append({**row, "alpha": t.raw_alpha, "ci_low": t.ci_low, "ci_high": t.ci_high,
                     "std_alpha": t.std_alpha, "omega_total": om, "average_r": t.average_r,
                     "worst_item": None if worst is None else worst["item"],
                     "alpha_if_worst_deleted": np.nan if worst is None else worst["alpha_if_deleted"],
                     "note": "; ".join(a.notes)})
    cols = ["construct", "n_items", "n_respondents", "alpha", "ci_low", "ci_high", "std_alpha",
            "omega_total", "average_r", "worst_item", "alpha_if_worst_deleted", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def item_statistics(responses: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Item analysis of every item on the reverse-keyed scale.

    Returns
    -------
    One row per item: ``construct, item, reverse, n, mean, sd, skew`` (bias-corrected
    Fisher-Pearson), ``floor, ceiling`` (share of answers at the scale's lowest/highest
    code after keying), ``r_drop`` (corrected item-total), ``alpha_if_deleted,
    construct_alpha``.
    """
    _check_responses(responses, instrument)
    lo, hi = instrument.scale.min, instrument.scale.max
    frames = []
    for c in instrument.constructs:
        x = _keyed_construct(responses, instrument, c.id)
        answered = x.notna().sum()
        base = pd.DataFrame({
            "construct": c.id, "item": list(x.columns),
            "reverse": [i.reverse for i in instrument.items_of(c.id)],
            "n": answered.to_numpy(), "mean": x.mean().to_numpy(), "sd": x.std().to_numpy(),
            "skew": x.skew().to_numpy(),
            "floor": ((x == lo).sum() / answered).to_numpy(),
            "ceiling": ((x == hi).sum() / answered).to_numpy(),
        })
        try:
            a = alpha(x)
            extra = a.items.set_index("item").reindex(base["item"])
            base["r_drop"] = extra["r_drop"].to_numpy()
            base["alpha_if_deleted"] = extra["alpha_if_deleted"].to_numpy()
            base["construct_alpha"] = a.raw_alpha
        except PsychometricsInputError:
            base["r_drop"] = base["alpha_if_deleted"] = base["construct_alpha"] = np.nan
        frames.append(base)
    return pd.concat(frames, ignore_index=True)


def flag_items(item_stats: pd.DataFrame, *, min_r_drop: float = 0.30, max_abs_skew: float = 2.0,
               max_floor_ceiling: float = 0.80) -> pd.DataFrame:
    """Flag items that weaken their construct, from :func:`item_statistics`.

    Flags (one row each): ``low_item_total`` (corrected item-total r below
    ``min_r_drop``, the common .30 rule, Nunnally & Bernstein 1994), ``alpha_rises``
    (alpha would be higher without the item), ``skewed`` (|skew| above
    ``max_abs_skew``), ``ceiling`` / ``floor`` (at least ``max_floor_ceiling`` of answers at
    the top / bottom code).

    Returns
    -------
    ``construct, item, flag, value, threshold`` (empty when nothing is flagged).
    """
    need = {"construct", "item", "r_drop", "alpha_if_deleted", "construct_alpha", "skew",
            "floor", "ceiling"}
    if not isinstance(item_stats, pd.DataFrame) or need - set(item_stats.columns):
        raise ConfigError("parameter 'item_stats' must be the DataFrame from item_statistics(); "
                          f"missing columns: {sorted(need - set(getattr(item_stats, 'columns', [])))}")
    s = item_stats
    checks = [
        ("low_item_total", s["r_drop"], s["r_drop"] < min_r_drop, min_r_drop),
        ("alpha_rises", s["alpha_if_deleted"], s["alpha_if_deleted"] > s["construct_alpha"],
         s["construct_alpha"]),
        ("skewed", s["skew"], s["skew"].abs() > max_abs_skew, max_abs_skew),
        ("ceiling", s["ceiling"], s["ceiling"] >= max_floor_ceiling, max_floor_ceiling),
        ("floor", s["floor"], s["floor"] >= max_floor_ceiling, max_floor_ceiling),
    ]
    parts = [pd.DataFrame({"construct": s.loc[m, "construct"], "item": s.loc[m, "item"],
                           "flag": name, "value": val[m],
                           "threshold": thr[m] if isinstance(thr, pd.Series) else thr})
             for name, val, m, thr in checks]
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"value": "float64", "threshold": "float64"})
