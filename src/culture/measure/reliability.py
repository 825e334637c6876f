"""Reliability and measurement quality of the survey instrument.

What is here, and the R function each one agrees with:

=========================  ==========================================  =============================
function                   statistic                                   reference
=========================  ==========================================  =============================
:func:`alpha`              Cronbach's alpha (raw, standardised),       ``psych::alpha(x)``
                           Guttman lambda-6, Feldt and Duhachek CIs,
                           item-total and alpha-if-deleted
:func:`omega`              omega hierarchical / total via              ``psych::omega(x, nfactors)``
                           Schmid-Leiman (minres + oblimin)
:func:`omega_total`        McDonald's omega from a one-factor model    McDonald (1999), ch. 6
:func:`cfa`                simple-structure CFA by maximum likelihood  ``lavaan::cfa(model, data)``
:func:`metric_invariance`  configural vs equal-loadings multi-group    ``lavaan::cfa(..., group=,
                           CFA, chi-square difference and delta CFI    group.equal="loadings")``
:func:`icc`                ICC(1), ICC(2) from a one-way ANOVA         ``multilevel::ICC1/ICC2``
:func:`rwg_j`              within-group agreement r_wg(j)              ``multilevel::rwg.j``
=========================  ==========================================  =============================

Item data are respondent-level and stay inside the confidentiality boundary;
everything returned here is an aggregate over respondents. Error messages name
columns and counts, never an answer.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from culture.errors import ConfigError, Problem, PsychometricsInputError
from culture.measure.instrument import Instrument

# ---------------------------------------------------------------------------
# input checks (lazy: collect every problem, raise once)
# ---------------------------------------------------------------------------

def _numeric_frame(items: object, *, name: str, min_cols: int, min_rows: int,
                   problems: list[Problem]) -> pd.DataFrame | None:
    if not isinstance(items, pd.DataFrame):
        raise ConfigError(f"parameter {name!r} must be a pandas DataFrame, got {type(items).__name__}")
    if items.columns.duplicated().any():
        dup = sorted({str(c) for c in items.columns[items.columns.duplicated()]})
        problems.append(Problem(name, f"duplicate column name(s) {dup}"))
    bad = [str(c) for c in items.columns if not (pd.api.types.is_numeric_dtype(items[c])
                                                  and not pd.api.types.is_bool_dtype(items[c]))]
    for c in bad:
        problems.append(Problem(f"{name}[{c!r}]", "column is not numeric; item codes must be numbers "
                                                  "(NaN for missing)"))
    if items.shape[1] < min_cols:
        problems.append(Problem(name, f"needs at least {min_cols} item columns, got {items.shape[1]}"))
    if len(items) < min_rows:
        problems.append(Problem(name, f"needs at least {min_rows} rows (respondents), got {len(items)}"))
    if bad or problems:
        return None
    x = items.astype("float64")
    inf_cols = [str(c) for c in x.columns if np.isinf(x[c].to_numpy()).any()]
    for c in inf_cols:
        problems.append(Problem(f"{name}[{c!r}]", "contains infinite values; use NaN for missing"))
    return None if inf_cols else x


def _check_level(level: float, name: str = "ci_level") -> None:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ConfigError(f"parameter {name!r} must be a number strictly between 0 and 1, got {level!r}")


def _raise(problems: list[Problem], source: str = "") -> None:
    if problems:
        raise PsychometricsInputError(problems, source=source)


def _require(x: pd.DataFrame | None, problems: list[Problem]) -> pd.DataFrame:
    """Raise the collected problems, else return the checked frame."""
    _raise(problems)
    if x is None:  # only reachable if a check forgot to record its problem
        raise PsychometricsInputError([Problem("items", "could not be read as numeric item data")])
    return x


# ---------------------------------------------------------------------------
# small matrix helpers
# ---------------------------------------------------------------------------

def _cov2cor(c: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(c))
    return c * np.outer(d, d)


def _smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations, 1 - 1/diag(R^-1) (``psych::smc``; pseudo-inverse if singular)."""
    try:
        inv = np.linalg.inv(r)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(r)
    return np.clip(1.0 - 1.0 / np.diag(inv), 0.0, 1.0)


def _pairwise_cov(x: pd.DataFrame, problems: list[Problem], name: str) -> np.ndarray:
    """Pairwise-complete covariances (``cov(x, use="pairwise")``); every pair must overlap."""
    c = x.cov(min_periods=2).to_numpy()
    if np.isnan(c).any():
        cols = list(map(str, x.columns))
        i, j = np.argwhere(np.isnan(c))[0]
        problems.append(Problem(name, f"items {cols[i]!r} and {cols[j]!r} are answered together by "
                                      "fewer than 2 respondents; no covariance can be estimated"))
    return c


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
        "g6": 1 - (k - _smc(r).sum()) / sum_r,
        "average_r": av_r,
        "median_r": float(np.median(off)),
        "s_n": k * av_r / (1 - av_r),
        "q": q,
    }


@dataclass(frozen=True)
class AlphaResult:
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

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.summary())}</p>"
                + self.items.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


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
    _check_level(ci_level)
    problems: list[Problem] = []
    x = _numeric_frame(items, name="items", min_cols=2, min_rows=3, problems=problems)
    x = _require(x, problems)
    notes: list[str] = []
    sd = x.std()
    flat = [str(c) for c in sd.index[~(sd > 0)]]
    if flat:
        notes.append(f"item(s) {', '.join(flat)} had no variance and were left out")
        x = x.drop(columns=sd.index[~(sd > 0)])
        if x.shape[1] < 2:
            _raise([Problem("items", "fewer than 2 items with any variance remain")])
    c = _pairwise_cov(x, problems, "items")
    _raise(problems)
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
    np.fill_diagonal(rc, _smc(r))
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
# exploratory factoring: minres, varimax, oblimin (psych::fa / GPArotation)
# ---------------------------------------------------------------------------

_EPS = np.finfo(float).eps


def _minres(r: np.ndarray, n_factors: int) -> np.ndarray:
    """Minimum-residual (ULS) factor loadings as ``psych::fa(r, nf, fm="minres", rotate="none")``.

    Minimises the residual sum of squares over uniquenesses psi in [.005, 1]
    (psych's bounds), starting from 1 - smc; loadings are the first ``n_factors``
    eigenvectors of R - diag(psi) scaled by the root eigenvalues. Columns are signed
    so that their sums are positive, as psych does.
    """
    k = r.shape[0]
    smc = _smc(r)
    start = np.full(k, 0.5) if (np.isclose(smc.sum(), n_factors) and n_factors > 1) else 1 - smc
    start = np.clip(start, 0.005, 1.0)

    def top(psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = r - np.diag(psi)
        w, v = np.linalg.eigh(m)
        w, v = w[::-1], v[:, ::-1]
        w = np.where(w < _EPS, 100 * _EPS, w)
        return m, v[:, :n_factors] * np.sqrt(w[:n_factors])

    def fun(psi: np.ndarray) -> tuple[float, np.ndarray]:
        m, load = top(psi)
        res = m - load @ load.T
        # ULS objective; its minimiser is the minres solution (the diagonal residual vanishes there)
        return float((res**2).sum()), -2 * np.diag(res)

    out = optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=[(0.005, 1.0)] * k,
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    _, load = top(out.x)
    signs = np.sign(load.sum(axis=0))
    signs[signs == 0] = 1
    return load * signs


def _varimax(load: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Kaiser-normalised varimax (R ``stats::varimax``), ordered and signed as ``psych::fa``."""
    nc = load.shape[1]
    if nc < 2:
        return load
    sc = np.sqrt((load**2).sum(axis=1))
    x = load / sc[:, None]
    p = x.shape[0]
    t = np.eye(nc)
    d = 0.0
    for _ in range(1000):
        z = x @ t
        b = x.T @ (z**3 - z @ np.diag((z**2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        t = u @ vt
        d_past, d = d, s.sum()
        if d < d_past * (1 + eps):
            break
    z = (x @ t) * sc[:, None]
    # psych::fa then orders factors by variance and makes column sums positive; the
    # oblimin start (and so the signs of the group factors) depends on it
    z = z[:, np.argsort(-(z**2).sum(axis=0), kind="stable")]
    signs = np.sign(z.sum(axis=0))
    signs[signs == 0] = 1
    return z * signs


def _quartimin(lam: np.ndarray) -> tuple[float, np.ndarray]:
    """Oblimin criterion with gamma = 0 and its gradient (GPArotation ``vgQ.oblimin``)."""
    k = lam.shape[1]
    x = (lam**2) @ (1 - np.eye(k))
    return float((lam**2 * x).sum() / 4), lam * x


def _oblimin(a: np.ndarray, eps: float = 1e-5, maxit: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Oblique gradient-projection rotation (``GPArotation::GPFoblq``, quartimin), from T = I.

    Returns the pattern loadings and the factor correlation matrix Phi = T'T.
    """
    t = np.eye(a.shape[1])
    lam = a @ np.linalg.inv(t).T
    f, gq = _quartimin(lam)
    g = -(lam.T @ gq @ np.linalg.inv(t)).T
    step = 1.0
    for _ in range(maxit + 1):
        gp = g - t @ np.diag((t * g).sum(axis=0))
        s = np.sqrt((gp**2).sum())
        if s < eps:
            break
        step *= 2
        for _ in range(11):
            x = t - step * gp
            tt = x / np.sqrt((x**2).sum(axis=0))
            lam = a @ np.linalg.inv(tt).T
            ft, gqt = _quartimin(lam)
            if f - ft > 0.5 * s**2 * step:
                break
            step /= 2
        t, f = tt, ft
        g = -(lam.T @ gqt @ np.linalg.inv(t)).T
    return lam, t.T @ t


# ---------------------------------------------------------------------------
# omega
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OmegaResult:
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

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.summary())}</p>"
                + self.loadings.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


def _correlation_input(items: pd.DataFrame, *, is_correlation: bool, min_cols: int
                       ) -> tuple[np.ndarray, list[str], float]:
    problems: list[Problem] = []
    if is_correlation:
        x = _numeric_frame(items, name="items", min_cols=min_cols, min_rows=min_cols,
                           problems=problems)
        x = _require(x, problems)
        r = x.to_numpy()
        if r.shape[0] != r.shape[1] or not np.allclose(r, r.T, atol=1e-8) or np.isnan(r).any():
            _raise([Problem("items", "is_correlation=True needs a square, symmetric matrix "
                                     "without missing values")])
        return _cov2cor(r), [str(c) for c in x.columns], np.nan
    x = _numeric_frame(items, name="items", min_cols=min_cols, min_rows=3, problems=problems)
    x = _require(x, problems)
    c = _pairwise_cov(x, problems, "items")
    if not problems and (np.diag(c) <= 0).any():
        flat = [str(col) for col, v in zip(x.columns, np.diag(c), strict=True) if v <= 0]
        problems.append(Problem("items", f"item(s) {flat} have no variance"))
    _raise(problems)
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
    orth = _varimax(_minres(r, n_factors))
    pattern, phi = _oblimin(orth)
    if n_factors > 2:
        gload = _minres(phi, 1)[:, 0]
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
        "g6": (vt + _smc(r).sum() - np.trace(r)) / vt,
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
    lam = _minres(r, 1)[:, 0]
    s = lam.sum()
    return float(s**2 / (s**2 + (1 - lam**2).sum()))


# ---------------------------------------------------------------------------
# confirmatory factor analysis (maximum likelihood, own implementation)
# ---------------------------------------------------------------------------
# semopy 2.3 can stop early on small models; a direct ML fit with an analytic
# gradient reproduces lavaan's estimates, and equality constraints across groups
# (metric invariance) are a matter of sharing parameter indices.

@dataclass(frozen=True)
class _GroupModel:
    s: np.ndarray          # ML covariance (divisor n)
    n: int
    lam_idx: np.ndarray    # p x k parameter index, -1 = fixed
    lam_fixed: np.ndarray  # values of fixed loadings (marker 1, else 0)
    phi_idx: np.ndarray    # k x k symmetric parameter indices
    th_idx: np.ndarray     # p residual-variance indices


def _parse_model(model: object, columns: Sequence[str], problems: list[Problem]
                 ) -> tuple[list[str], list[str], np.ndarray]:
    if not isinstance(model, Mapping) or not model:
        raise ConfigError("parameter 'model' must be a non-empty mapping factor -> list of item columns")
    factors = [str(f) for f in model]
    items: list[str] = []
    for f, its in model.items():
        if isinstance(its, str) or not isinstance(its, Sequence) or len(its) < 2:
            problems.append(Problem(f"model[{f!r}]", "needs a list of at least 2 item columns"))
            continue
        for it in its:
            if it in items:
                problems.append(Problem(f"model[{f!r}]", f"item {it!r} is used by more than one factor; "
                                        "only simple structure is supported"))
            elif it not in columns:
                problems.append(Problem(f"model[{f!r}]", f"column {it!r} is not in the data"))
            else:
                items.append(it)
    if len(factors) == 1 and not problems and len(items) < 3:
        problems.append(Problem("model", "a one-factor model needs at least 3 items"))
    pattern = np.zeros((len(items), len(factors)), dtype=bool)
    for j, its in enumerate(model.values()):
        for it in its if isinstance(its, Sequence) and not isinstance(its, str) else []:
            if it in items:
                pattern[items.index(it), j] = True
    return factors, items, pattern


def _build_groups(covs: list[np.ndarray], ns: list[int], pattern: np.ndarray,
                  equal_loadings: bool) -> tuple[list[_GroupModel], int, np.ndarray]:
    """Parameter layout per group; returns the groups, number of parameters and variance flags."""
    p, k = pattern.shape
    markers = pattern.argmax(axis=0)  # first item of each factor is the marker (lavaan default)
    free = pattern.copy()
    free[markers, np.arange(k)] = False
    fixed = np.zeros((p, k))
    fixed[markers, np.arange(k)] = 1.0
    n_par = 0
    is_var: list[bool] = []
    groups = []
    shared: np.ndarray | None = None
    for s, n in zip(covs, ns, strict=True):
        if shared is None or not equal_loadings:
            lam_idx = np.full((p, k), -1)
            lam_idx[free] = np.arange(n_par, n_par + free.sum())
            n_par += int(free.sum())
            is_var += [False] * int(free.sum())
            shared = lam_idx
        phi_idx = np.zeros((k, k), dtype=int)
        for a in range(k):
            for b in range(a + 1):
                phi_idx[a, b] = phi_idx[b, a] = n_par
                is_var.append(a == b)
                n_par += 1
        th_idx = np.arange(n_par, n_par + p)
        n_par += p
        is_var += [True] * p
        groups.append(_GroupModel(s, n, shared, fixed, phi_idx, th_idx))
    return groups, n_par, np.array(is_var)


def _unpack(theta: np.ndarray, gm: _GroupModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lam = gm.lam_fixed.copy()
    m = gm.lam_idx >= 0
    lam[m] = theta[gm.lam_idx[m]]
    return lam, theta[gm.phi_idx], theta[gm.th_idx]


def _ml_objective(theta: np.ndarray, groups: list[_GroupModel], n_total: int
                  ) -> tuple[float, np.ndarray]:
    """sum_g (n_g/N) F_ML,g and its gradient; F = log|Sigma| + tr(S Sigma^-1) - log|S| - p."""
    f, grad = 0.0, np.zeros_like(theta)
    for gm in groups:
        lam, phi, th = _unpack(theta, gm)
        sigma = lam @ phi @ lam.T + np.diag(th)
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        inv = np.linalg.inv(sigma)
        logdet = 2 * np.log(np.diag(chol)).sum()
        _, logdet_s = np.linalg.slogdet(gm.s)
        w = gm.n / n_total
        f += w * (logdet + np.trace(gm.s @ inv) - logdet_s - len(th))
        gmat = inv @ (sigma - gm.s) @ inv
        m = gm.lam_idx >= 0
        np.add.at(grad, gm.lam_idx[m], w * (2 * gmat @ lam @ phi)[m])
        np.add.at(grad, gm.phi_idx.ravel(), w * (lam.T @ gmat @ lam).ravel())
        np.add.at(grad, gm.th_idx, w * np.diag(gmat))
    return f, grad


def _start_values(groups: list[_GroupModel], n_par: int, pattern: np.ndarray) -> np.ndarray:
    """Loadings from covariance ratios with the marker, half the variances as residuals."""
    theta = np.zeros(n_par)
    markers = pattern.argmax(axis=0)
    for gm in groups:
        s = gm.s
        lam = gm.lam_fixed.copy()
        for j in range(pattern.shape[1]):
            its = np.flatnonzero(pattern[:, j])
            mk = markers[j]
            for i in its:
                if i == mk:
                    continue
                others = [o for o in its if o not in (i, mk)]
                num = s[i, others].mean() if others else s[i, mk]
                den = s[mk, others].mean() if others else s[mk, mk] * 0.5
                lam[i, j] = num / den if abs(den) > 1e-12 else 1.0
            var_f = np.mean([s[mk, i] / lam[i, j] for i in its if i != mk and abs(lam[i, j]) > 1e-12])
            theta[gm.phi_idx[j, j]] = max(var_f, 0.05 * s[mk, mk])
        m = gm.lam_idx >= 0
        theta[gm.lam_idx[m]] = lam[m]
        theta[gm.th_idx] = 0.5 * np.diag(s)
    return theta


def _rmsea_ci(chisq: float, df: int, n: int, n_groups: int, level: float = 0.90
              ) -> tuple[float, float]:
    """Steiger's noncentral chi-square interval for RMSEA, scaled as lavaan (N, sqrt(G))."""
    if df <= 0:
        return np.nan, np.nan

    def ncp_for(prob: float) -> float:
        if stats.chi2.cdf(chisq, df) < prob:
            return 0.0
        hi = max(chisq, 1.0)
        while stats.ncx2.cdf(chisq, df, hi) > prob:
            hi *= 2
        return optimize.brentq(lambda nc: stats.ncx2.cdf(chisq, df, nc) - prob, 1e-12, hi)

    lo, hi = ncp_for(0.5 + level / 2), ncp_for(0.5 - level / 2)
    scale = np.sqrt(n_groups)
    return float(np.sqrt(lo / (n * df)) * scale), float(np.sqrt(hi / (n * df)) * scale)


def _fit_measures(groups: list[_GroupModel], theta: np.ndarray, n_par: int, n_total: int,
                  f_min: float, mean_structure: bool) -> dict[str, float]:
    p = groups[0].s.shape[0]
    n_groups = len(groups)
    df = n_groups * p * (p + 1) // 2 - n_par
    chisq = n_total * f_min
    base = sum(gm.n * (np.log(np.diag(gm.s)).sum() - np.linalg.slogdet(gm.s)[1]) for gm in groups)
    df_b = n_groups * p * (p - 1) // 2
    t1, t2 = max(chisq - df, 0.0), max(chisq - df, base - df_b, 0.0)
    srmr = 0.0
    for gm in groups:
        lam, phi, th = _unpack(theta, gm)
        sigma = lam @ phi @ lam.T + np.diag(th)
        sd = np.sqrt(np.diag(gm.s))
        res = (gm.s - sigma) / np.outer(sd, sd)
        # lavaan's Bentler SRMR; with a mean structure (multi-group) the p saturated
        # mean residuals (zero) count in the denominator
        n_el = p * (p + 1) / 2 + (p if mean_structure else 0)
        srmr += gm.n / n_total * np.sqrt((res[np.tril_indices(p)] ** 2).sum() / n_el)
    lo, hi = _rmsea_ci(chisq, df, n_total, n_groups)
    return {
        "chisq": chisq, "df": df, "pvalue": float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan,
        "cfi": 1.0 - t1 / t2 if t2 > 0 else 1.0,
        "tli": ((base / df_b - chisq / df) / (base / df_b - 1)) if df > 0 else np.nan,
        "rmsea": float(np.sqrt(max(chisq / n_total / df - 1 / n_total, 0.0)) * np.sqrt(n_groups))
        if df > 0 else np.nan,
        "rmsea_ci_low": lo, "rmsea_ci_high": hi, "srmr": float(srmr),
        "baseline_chisq": float(base), "baseline_df": df_b,
    }


@dataclass(frozen=True)
class CFAResult:
    """A fitted simple-structure CFA (see :func:`cfa`).

    Attributes
    ----------
    fit : one-row DataFrame: ``n_obs, n_groups, chisq, df, pvalue, cfi, tli, rmsea,
        rmsea_ci_low, rmsea_ci_high`` (90%), ``srmr, baseline_chisq, baseline_df, converged``.
    loadings : ``group, factor, item, estimate, std_all`` (marker loadings are fixed at 1).
    factor_correlations : ``group, factor_a, factor_b, covariance, correlation``.
    residual_variances : ``group, item, estimate, std_all``.
    notes : caveats (listwise deletion, non-convergence, variances at the bound).
    provenance : method, the R call it agrees with, and the options used.
    """

    fit: pd.DataFrame
    loadings: pd.DataFrame
    factor_correlations: pd.DataFrame
    residual_variances: pd.DataFrame
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        return self.loadings

    def summary(self) -> str:
        t = self.fit.iloc[0]
        lines = [f"chi-square({int(t.df)}) = {t.chisq:.2f}, p = {t.pvalue:.3g}; CFI = {t.cfi:.3f}, "
                 f"TLI = {t.tli:.3f}, RMSEA = {t.rmsea:.3f} (90% CI {t.rmsea_ci_low:.3f} to "
                 f"{t.rmsea_ci_high:.3f}), SRMR = {t.srmr:.3f}; n = {int(t.n_obs)}."]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.summary())}</p>"
                + self.loadings.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


def _fit_cfa(data: pd.DataFrame, model: Mapping[str, Sequence[str]], *, group: str | None,
             equal_loadings: bool) -> CFAResult:
    problems: list[Problem] = []
    if not isinstance(data, pd.DataFrame):
        raise ConfigError(f"parameter 'data' must be a pandas DataFrame, got {type(data).__name__}")
    factors, items, pattern = _parse_model(model, list(data.columns), problems)
    if group is not None and group not in data.columns:
        problems.append(Problem("group", f"column {group!r} is not in the data"))
    _raise(problems)
    x = _numeric_frame(data[items], name="data", min_cols=2, min_rows=1, problems=problems)
    x = _require(x, problems)
    keys = data[group] if group is not None else pd.Series("all", index=data.index)
    complete = x.notna().all(axis=1) & keys.notna()
    notes = []
    if (~complete).any():
        notes.append(f"{int((~complete).sum())} row(s) with a missing item or group were left out "
                     "(listwise deletion, lavaan's default)")
    x, keys = x[complete], keys[complete]
    labels = list(pd.unique(keys))
    p = len(items)
    covs, ns = [], []
    for lab in labels:
        xs = x[(keys == lab).to_numpy()]
        if len(xs) <= p:
            problems.append(Problem(f"group {lab!r}" if group else "data",
                                    f"needs more complete rows than items ({p}), got {len(xs)}"))
            continue
        covs.append(np.cov(xs.to_numpy(), rowvar=False, ddof=0))  # ML covariance, as lavaan
        ns.append(len(xs))
    if group is not None and len(labels) < 2:
        problems.append(Problem("group", f"column {group!r} needs at least 2 groups, got {len(labels)}"))
    _raise(problems)
    for lab, s in zip(labels, covs, strict=True):
        if np.linalg.eigvalsh(s).min() <= 1e-10 * np.trace(s):
            problems.append(Problem(f"group {lab!r}" if group else "data",
                                    "the item covariance matrix is singular (an item without variance "
                                    "or an exact linear combination)"))
    _raise(problems)
    groups, n_par, is_var = _build_groups(covs, ns, pattern, equal_loadings)
    n_total = sum(ns)
    theta0 = _start_values(groups, n_par, pattern)
    bounds = [(1e-8, None) if v else (None, None) for v in is_var]
    res = optimize.minimize(_ml_objective, theta0, args=(groups, n_total), jac=True,
                            method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 10000, "maxfun": 20000})
    if not res.success:
        notes.append(f"the optimiser did not report convergence ({res.message})")
    if (res.x[is_var] < 1e-6).any():
        notes.append("a variance estimate is at its lower bound (a Heywood case); lavaan would "
                     "report a negative variance")
    fitm = _fit_measures(groups, res.x, n_par, n_total, float(res.fun), mean_structure=group is not None)
    fit = pd.DataFrame([{"n_obs": n_total, "n_groups": len(groups), **fitm,
                         "converged": bool(res.success)}])
    load_rows, cor_rows, res_rows = [], [], []
    for lab, gm in zip(labels, groups, strict=True):
        lam, phi, th = _unpack(res.x, gm)
        sd_item = np.sqrt(np.diag(lam @ phi @ lam.T + np.diag(th)))
        sd_fac = np.sqrt(np.diag(phi))
        for i, j in zip(*np.nonzero(pattern), strict=True):
            load_rows.append({"group": lab, "factor": factors[j], "item": items[i],
                              "estimate": lam[i, j], "std_all": lam[i, j] * sd_fac[j] / sd_item[i]})
        for a in range(len(factors)):
            for b in range(a + 1, len(factors)):
                cor_rows.append({"group": lab, "factor_a": factors[a], "factor_b": factors[b],
                                 "covariance": phi[a, b],
                                 "correlation": phi[a, b] / (sd_fac[a] * sd_fac[b])})
        for i in range(p):
            res_rows.append({"group": lab, "item": items[i], "estimate": th[i],
                             "std_all": th[i] / sd_item[i] ** 2})
    cor_cols = ["group", "factor_a", "factor_b", "covariance", "correlation"]
    return CFAResult(fit=fit, loadings=pd.DataFrame(load_rows),
                     factor_correlations=pd.DataFrame(cor_rows, columns=cor_cols),
                     residual_variances=pd.DataFrame(res_rows), notes=tuple(notes),
                     provenance={"method": "maximum likelihood, marker-variable identification",
                                 "agrees_with": "R lavaan::cfa(model, data"
                                 + (f", group='{group}'" if group else "")
                                 + (", group.equal='loadings')" if equal_loadings else ")"),
                                 "missing": "listwise"})


def cfa(data: pd.DataFrame, model: Mapping[str, Sequence[str]], *, estimator: str = "ML"
        ) -> CFAResult:
    """Confirmatory factor analysis of a simple-structure model, as ``lavaan::cfa(model, data)``.

    Each factor is measured by its items; the first item's loading is fixed at 1
    (lavaan's marker default); factors are free to correlate; residuals are
    uncorrelated. Maximum likelihood on the listwise-complete data with the biased
    (divisor n) covariance matrix, minimising F = log|Sigma| + tr(S Sigma^-1) - log|S| - p.

    Fit: chi-square = n F_min; CFI (Bentler 1990) and TLI against the independence
    model; RMSEA = sqrt(max(chi2/n/df - 1/n, 0)) with Steiger's 90% interval; SRMR
    (Bentler) from residual covariances standardised by the observed SDs. Standardised
    loadings are lavaan's ``std.all``.

    Parameters
    ----------
    data : DataFrame with one numeric column per item.
    model : factor name -> item columns, e.g. ``{"visual": ["x1", "x2", "x3"], ...}``.
    estimator : only ``"ML"``.
    """
    if estimator != "ML":
        raise ConfigError(f"parameter 'estimator' must be 'ML', got {estimator!r}")
    return _fit_cfa(data, model, group=None, equal_loadings=False)


# ---------------------------------------------------------------------------
# measurement invariance
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InvarianceResult:
    """Configural vs metric invariance (see :func:`metric_invariance`).

    Attributes
    ----------
    table : rows ``configural`` and ``metric`` with ``model, chisq, df, pvalue, cfi, tli,
        rmsea, rmsea_ci_low, rmsea_ci_high, srmr``.
    chisq_diff, df_diff, p_value : likelihood-ratio test of equal loadings.
    delta_cfi : CFI(metric) - CFI(configural).
    accepted : ``delta_cfi >= -cfi_tolerance`` (Cheung & Rensvold 2002).
    configural, metric : the two fitted models.
    notes, provenance : caveats; method and the R call it agrees with.
    """

    table: pd.DataFrame
    chisq_diff: float
    df_diff: int
    p_value: float
    delta_cfi: float
    accepted: bool
    cfi_tolerance: float
    configural: CFAResult
    metric: CFAResult
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, object] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        word = "holds" if self.accepted else "is not supported"
        return (f"Metric invariance (equal loadings across groups) {word}: delta CFI = "
                f"{self.delta_cfi:+.3f} (criterion {-self.cfi_tolerance:+.2f}); chi-square "
                f"difference({self.df_diff}) = {self.chisq_diff:.2f}, p = {self.p_value:.3g}.")

    def summary(self) -> str:
        return "\n".join([self.verdict, *[f"Note: {n}" for n in self.notes]])

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.summary())}</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


def metric_invariance(data: pd.DataFrame, model: Mapping[str, Sequence[str]], *, group: str,
                      cfi_tolerance: float = 0.01) -> InvarianceResult:
    """Test equal factor loadings across groups (e.g. waves) with multi-group CFA.

    Configural model: the same simple structure in every group, all parameters free.
    Metric model: loadings constrained equal across groups (lavaan
    ``group.equal = "loadings"``). Chi-square difference test (nested ML models) and
    delta CFI; metric invariance is accepted when CFI drops by no more than
    ``cfi_tolerance`` (.01, Cheung & Rensvold 2002, *Structural Equation Modeling* 9, 233-255).
    """
    if isinstance(cfi_tolerance, bool) or not isinstance(cfi_tolerance, int | float) \
            or not 0 < cfi_tolerance < 1:
        raise ConfigError(f"parameter 'cfi_tolerance' must be a number in (0, 1), got {cfi_tolerance!r}")
    if not isinstance(group, str):
        raise ConfigError(f"parameter 'group' must be a column name, got {type(group).__name__}")
    conf = _fit_cfa(data, model, group=group, equal_loadings=False)
    metr = _fit_cfa(data, model, group=group, equal_loadings=True)
    cols = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr"]
    table = pd.concat([conf.fit[cols], metr.fit[cols]], ignore_index=True)
    table.insert(0, "model", ["configural", "metric"])
    d_chi = float(metr.fit.chisq.iloc[0] - conf.fit.chisq.iloc[0])
    d_df = int(metr.fit.df.iloc[0] - conf.fit.df.iloc[0])
    d_cfi = float(metr.fit.cfi.iloc[0] - conf.fit.cfi.iloc[0])
    notes = tuple(dict.fromkeys(conf.notes + metr.notes))
    return InvarianceResult(table=table, chisq_diff=d_chi, df_diff=d_df,
                            p_value=float(stats.chi2.sf(max(d_chi, 0.0), d_df)), delta_cfi=d_cfi,
                            accepted=bool(d_cfi >= -cfi_tolerance), cfi_tolerance=float(cfi_tolerance),
                            configural=conf, metric=metr, notes=notes,
                            provenance={"method": "configural vs equal-loadings multi-group ML CFA",
                                        "agrees_with": "R lavaan::lavTestLRT(configural, metric)",
                                        "criterion": "Cheung & Rensvold (2002) delta CFI"})


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
    _raise(problems)
    ok = values.notna() & groups.notna()
    v, g = values[ok].astype("float64"), groups[ok]
    n, j = len(v), g.nunique()
    if j < 2 or n <= j:
        _raise([Problem("groups", f"needs at least 2 groups and more observations than groups; "
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
    x = _numeric_frame(items, name="items", min_cols=1, min_rows=2, problems=problems)
    x = _require(x, problems)
    _aligned(x.iloc[:, 0], groups, "items", problems)
    _raise(problems)
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
    _raise(problems, source=instrument.source)


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
    _check_level(ci_level)
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
