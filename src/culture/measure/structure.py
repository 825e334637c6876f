"""Confirmatory factor analysis by maximum likelihood, and metric invariance across groups.

=========================  ==========================================  =============================
function                   statistic                                   reference
=========================  ==========================================  =============================
:func:`cfa`                simple-structure CFA by maximum likelihood  ``lavaan::cfa(model, data)``
:func:`metric_invariance`  configural vs equal-loadings multi-group    ``lavaan::cfa(..., group=,
                           CFA, chi-square difference and delta CFI    group.equal="loadings")``
=========================  ==========================================  =============================

semopy 2.3 can stop early on small models; a direct ML fit with an analytic
gradient reproduces lavaan's estimates, and equality constraints across groups
are a matter of sharing parameter indices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from culture.errors import ConfigError, Problem
from culture.measure.inputs import numeric_frame, raise_problems, require_frame
from culture.results import Result

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
class CFAResult(Result):
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



def _fit_cfa(data: pd.DataFrame, model: Mapping[str, Sequence[str]], *, group: str | None,
             equal_loadings: bool) -> CFAResult:
    problems: list[Problem] = []
    if not isinstance(data, pd.DataFrame):
        raise ConfigError(f"parameter 'data' must be a pandas DataFrame, got {type(data).__name__}")
    factors, items, pattern = _parse_model(model, list(data.columns), problems)
    if group is not None and group not in data.columns:
        problems.append(Problem("group", f"column {group!r} is not in the data"))
    raise_problems(problems)
    x = numeric_frame(data[items], name="data", min_cols=2, min_rows=1, problems=problems)
    x = require_frame(x, problems)
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
    raise_problems(problems)
    for lab, s in zip(labels, covs, strict=True):
        if np.linalg.eigvalsh(s).min() <= 1e-10 * np.trace(s):
            problems.append(Problem(f"group {lab!r}" if group else "data",
                                    "the item covariance matrix is singular (an item without variance "
                                    "or an exact linear combination)"))
    raise_problems(problems)
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
class InvarianceResult(Result):
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
