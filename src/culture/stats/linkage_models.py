"""Culture <-> quality outcomes: a unit x quarter panel and the models over it.

Everything here works on *released* unit-level aggregates (scores that already
passed suppression) joined to the quality register; nothing respondent-level.

Three questions, three models
-----------------------------
``count_model``
    Negative binomial (NB2) regression of an event count with a log(exposure)
    offset, lagged culture predictors and standard errors clustered by unit;
    the agreed reference is Stata ``nbreg y x, exposure(e) vce(cluster unit)``
    (coefficients and OIM standard errors also equal R ``MASS::glm.nb`` with
    ``offset(log(e))`` up to the information matrix used, see :func:`fit_negbin`).
``continuous_model``
    Linear mixed model with a random intercept per unit (REML), for CAPA
    days-to-close or on-time share; agrees with R ``lme4::lmer(y ~ x + (1 | unit))``.
``cross_lagged``
    culture(t-1) -> outcome rate(t) against outcome rate(t-1) -> culture(t), both
    within units, standardised, with a test of which path is larger.

Within versus between
---------------------
"Better units have fewer defects" (between units) and "a unit that improves gets
fewer defects" (within a unit) are different claims. The count and continuous
models use the within-between ("hybrid", Mundlak 1978; Allison 2009; Bell & Jones
2015) specification: each lagged predictor enters as its unit mean (between) and
as the deviation from that mean (within). The within estimate equals the
fixed-effects estimate in linear models and is protected from stable unit
differences; the between estimate is not.

All wording is associational: these are observational data and no estimate here
is evidence that culture *causes* quality outcomes.

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

import html
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from culture import frames
from culture.errors import (
    ConfigError,
    InsufficientDataError,
    ModelFitError,
    Problem,
    ValidationError,
)

__all__ = [
    "COUNT_OUTCOMES",
    "CONTINUOUS_OUTCOMES",
    "CrossLaggedResult",
    "LinkageResult",
    "MixedFit",
    "ModelFitError",
    "NegBinFit",
    "build_panel",
    "cluster_robust_cov",
    "continuous_model",
    "count_model",
    "cross_lagged",
    "fit_negbin",
    "fit_random_intercept",
]

UNIT = frames.UNIT
QUARTER = "quarter"
QINDEX = "quarter_index"
EXPOSURE = "exposure"

COUNT_OUTCOMES = ("nc_internal", "nc_customer", "nc_total", "audit_minor", "audit_major",
                  "audit_critical", "audit_total", "complaints", "capa_closed")
CONTINUOUS_OUTCOMES = ("capa_days_to_close_mean", "capa_on_time_share")
_EVENT_COLUMNS = ("event_id", "kind", UNIT, "opened", "closed", "due", "severity", "detected")
_DETECTED = ("internal", "customer")
_Z975 = float(stats.norm.ppf(0.975))
# alpha below exp(-20) ~ 2e-9 is the Poisson limit for any realistic count; stopping
# there keeps the digamma differences in the score accurate
_LOG_ALPHA_MIN = -20.0



# --------------------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------------------

def _rows(mask: pd.Series, limit: int = 5) -> str:
    """1-based row positions of a boolean mask, the first few only (never the values)."""
    pos = np.flatnonzero(mask.to_numpy()) + 1
    shown = ", ".join(str(p) for p in pos[:limit])
    return f"row(s) {shown}" + (f" and {len(pos) - limit} more" if len(pos) > limit else "")


def _quarter_index(q: pd.Series, name: str, problems: list[Problem]) -> pd.Series:
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
                        QINDEX: _quarter_index(scores[QUARTER], "scores", problems)})
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
                        QINDEX: _quarter_index(exposure[QUARTER], "exposure", problems),
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


def _lag_frame(base: pd.DataFrame, cols: Sequence[str], k: int) -> pd.DataFrame:
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
        panel = panel.merge(_lag_frame(sc, constructs, k), on=[UNIT, QINDEX], how="left")

    panel[QINDEX] = panel[QINDEX].astype("int64")
    quarters = {i: frames.wave_from_index(int(i)) for i in panel[QINDEX].unique()}
    panel.insert(1, QUARTER, panel[QINDEX].map(quarters).astype("string"))
    panel[EXPOSURE] = panel[EXPOSURE].astype("float64")
    order = [UNIT, QUARTER, QINDEX, EXPOSURE, *COUNT_OUTCOMES, *CONTINUOUS_OUTCOMES]
    lagged = [f"{c}_lag{k}" for c in constructs for k in lags]
    return panel[order + constructs + lagged].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Estimation engines (plain arrays; tested against published Stata / R output)
# --------------------------------------------------------------------------------------

def cluster_robust_cov(scores: np.ndarray, hessian: np.ndarray, groups: Sequence, *,
                       linear: bool = False) -> np.ndarray:
    """Cluster-robust (sandwich) covariance ``c * H^-1 (sum_g s_g s_g') H^-1``.

    Parameters
    ----------
    scores : (n, k) array
        Per-observation score contributions (gradient of each log-likelihood term).
    hessian : (k, k) array
        Hessian of the total log-likelihood at the estimate (negative definite).
    groups : length-n sequence
        Cluster labels.
    linear : bool
        ``False`` (ML models): ``c = G/(G-1)``, as Stata ``nbreg/logit ..., vce(cluster g)``
        and R ``sandwich::vcovCL(fit, cluster = ~g)`` (HC0 with cluster adjustment).
        ``True`` (least squares): ``c = G/(G-1) * (n-1)/(n-k)``, as Stata
        ``regress ..., vce(cluster g)`` and ``vcovCL(lm_fit, type = "HC1")``.

    References
    ----------
    Liang & Zeger (1986); Cameron & Miller (2015) "A practitioner's guide to
    cluster-robust inference", J. Human Resources 50(2), eq. 11-12.
    """
    scores = np.asarray(scores, dtype="float64")
    n, k = scores.shape
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=False)
    n_groups = int(codes.max()) + 1
    summed = np.zeros((n_groups, k))
    np.add.at(summed, codes, scores)
    bread = linalg.inv(-np.asarray(hessian, dtype="float64"))
    c = n_groups / (n_groups - 1.0)
    if linear:
        c *= (n - 1.0) / (n - k)
    cov = c * bread @ (summed.T @ summed) @ bread
    return (cov + cov.T) / 2.0


@dataclass(frozen=True)
class NegBinFit:
    """Result of :func:`fit_negbin`.

    ``params`` holds the regression coefficients (log rate ratios) and ``cov`` their
    covariance; ``alpha`` is the NB2 dispersion (Var = mu + alpha mu^2, Stata's alpha),
    ``theta = 1/alpha`` is R's theta. ``cov_full`` covers (coefficients, log alpha).
    """

    params: pd.Series
    bse: pd.Series
    cov: pd.DataFrame
    cov_full: pd.DataFrame
    alpha: float
    alpha_se: float
    loglik: float
    n_obs: int
    n_groups: int | None
    cov_type: str
    iterations: int

    @property
    def theta(self) -> float:
        return 1.0 / self.alpha if self.alpha > 0 else np.inf


def _nb2_parts(params: np.ndarray, y: np.ndarray, X: np.ndarray, offset: np.ndarray):
    """NB2 log-likelihood, per-observation scores and Hessian in (beta, log alpha).

    ll_i = lnG(y+th) - lnG(th) - lnG(y+1) + th ln(th/(th+mu)) + y ln(mu/(th+mu)),
    th = 1/alpha = exp(-eta), mu = exp(X b + offset) (Cameron & Trivedi 2013, eq. 3.26).
    Written with betaln / log1p so it stays accurate near the Poisson limit (th large).
    """
    p = X.shape[1]
    beta, eta = params[:p], params[p]
    th = np.exp(-eta)
    mu = np.exp(X @ beta + offset)
    tm = th + mu
    pos = y > 0
    # lnG(y+th) - lnG(th) = lnG(y) - lnB(th, y) for y > 0, exactly 0 for y = 0
    lg_ratio = np.where(pos, special.gammaln(np.where(pos, y, 1.0))
                        - special.betaln(th, np.where(pos, y, 1.0)), 0.0)
    ll = (lg_ratio - special.gammaln(y + 1.0) - th * np.log1p(mu / th)
          + y * (np.log(mu) - np.log(tm)))
    s_theta = (special.digamma(y + th) - special.digamma(th) - np.log1p(mu / th)
               + (mu - y) / tm)
    scores = np.column_stack([X * ((y - mu) * th / tm)[:, None], -th * s_theta])
    hess = np.empty((p + 1, p + 1))
    hess[:p, :p] = -(X * (mu * th * (th + y) / tm**2)[:, None]).T @ X
    hess[:p, p] = hess[p, :p] = -th * (X.T @ ((y - mu) * mu / tm**2))
    h_tt = (special.polygamma(1, y + th) - special.polygamma(1, th) + 1.0 / th - 1.0 / tm
            - (mu - y) / tm**2)
    hess[p, p] = th**2 * h_tt.sum() + th * s_theta.sum()
    return float(ll.sum()), scores, hess


def _poisson_start(y: np.ndarray, X: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Poisson maximum-likelihood start values (Newton with step halving)."""
    def loglik(b):
        eta = X @ b + offset
        return float(np.sum(y * eta - np.exp(eta)))

    # least squares on log((y + 0.5) / exposure) puts the first mu on the right scale
    beta = np.linalg.lstsq(X, np.log(y + 0.5) - offset, rcond=None)[0]
    ll = loglik(beta)
    for _ in range(100):
        mu = np.exp(X @ beta + offset)
        step = np.linalg.lstsq((X * mu[:, None]).T @ X, X.T @ (y - mu), rcond=None)[0]
        for _ in range(40):
            new_ll = loglik(beta + step)
            if np.isfinite(new_ll) and new_ll >= ll:
                break
            step = step / 2.0
        beta, ll = beta + step, new_ll
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def fit_negbin(y, X: pd.DataFrame | np.ndarray, *, offset=None, groups=None,
               information: Literal["observed", "expected"] = "observed",
               max_iter: int = 200, tol: float = 1e-10) -> NegBinFit:
    """Maximum-likelihood NB2 (negative binomial) regression with an optional offset.

    Maximises the NB2 log-likelihood jointly over the coefficients and log(alpha) by
    Newton-Raphson with step halving, from Poisson start values.

    Parameters
    ----------
    y : array-like of counts (n,)
    X : DataFrame or array (n, p)
        Design matrix including the intercept column (names become ``params`` index).
    offset : array-like (n,), optional
        Added to the linear predictor with coefficient 1, e.g. ``log(exposure)``.
    groups : array-like (n,), optional
        Cluster labels. When given, ``cov`` is cluster-robust
        (:func:`cluster_robust_cov`, Stata ``vce(cluster g)``); otherwise model-based.
    information : {"observed", "expected"}
        Model-based covariance from the observed information (Stata ``nbreg``, OIM,
        the default) or, for the coefficients, the expected information given alpha
        (R ``summary(MASS::glm.nb(...))``). Ignored when ``groups`` is given.

    Returns
    -------
    NegBinFit

    Raises
    ------
    ModelFitError
        Singular design or no convergence.

    Notes
    -----
    Agrees with Stata ``nbreg y x, exposure(e) [vce(cluster g)]`` and with R
    ``MASS::glm.nb(y ~ x + offset(log(e)))`` (estimates, theta; standard errors with
    ``information="expected"``). Without overdispersion the ML estimate of alpha is on
    the boundary 0: the Poisson fit is returned with ``alpha = 0`` and ``alpha_se`` NaN.
    """
    names = list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else \
        [f"x{i}" for i in range(np.shape(X)[1])]
    X = np.asarray(X, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n, p = X.shape
    offset = np.zeros(n) if offset is None else np.asarray(offset, dtype="float64")
    if np.linalg.matrix_rank(X) < p:
        raise ModelFitError(f"the design matrix is singular (columns {names}); a predictor "
                            "is constant or a combination of others")
    beta = _poisson_start(y, X, offset)
    mu = np.exp(X @ beta + offset)
    # The NB2 score for alpha at alpha = 0 is sum((y - mu)^2 - y) / 2 (Cameron & Trivedi
    # 2013, sec. 3.4): when it is <= 0 at the Poisson fit, the ML estimate of alpha is on
    # the boundary 0 and the NB2 model reduces to Poisson.
    if np.sum((y - mu) ** 2 - y) <= 0:
        return _poisson_boundary(beta, y, X, offset, names, groups)
    # start alpha at the moment estimate of the auxiliary regression, kept in a sane range
    alpha0 = float(np.clip(np.sum(((y - mu) ** 2 - y) / mu**2) / max(n - p, 1), 1e-3, 10.0))
    theta = np.r_[beta, np.log(alpha0)]
    ll, scores, hess = _nb2_parts(theta, y, X, offset)
    converged, iterations = False, 0
    while iterations < max_iter:
        iterations += 1
        grad = scores.sum(axis=0)
        try:
            step = linalg.solve(-hess, grad, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = grad / max(1.0, np.abs(grad).max())  # not concave here: gradient ascent
        for _ in range(60):  # step halving keeps every iteration an ascent step
            trial = theta + step
            trial[-1] = min(max(trial[-1], _LOG_ALPHA_MIN), 10.0)
            t_ll, t_scores, t_hess = _nb2_parts(trial, y, X, offset)
            if np.isfinite(t_ll) and t_ll >= ll - 1e-12 * abs(ll):
                break
            step = step / 2.0
        theta, ll_old = trial, ll
        ll, scores, hess = t_ll, t_scores, t_hess
        if np.max(np.abs(step)) < tol or abs(ll - ll_old) < tol * (1.0 + abs(ll)) * 1e-3:
            converged = True
            break
    if theta[-1] <= _LOG_ALPHA_MIN + 1.0:  # drifted to alpha ~ 0: the Poisson boundary
        return _poisson_boundary(_poisson_start(y, X, offset), y, X, offset, names, groups)
    grad = scores.sum(axis=0)
    if not converged or np.max(np.abs(grad)) > 1e-4 * max(1.0, np.sqrt(n)):
        raise ModelFitError(f"the negative binomial model did not converge in {max_iter} "
                            "iterations; check for outliers or predictors on very large scales")
    if groups is not None:
        cov_full = cluster_robust_cov(scores, hess, groups)
        cov_type = "cluster"
    else:
        cov_full = linalg.inv(-hess)
        cov_type = "observed"
        if information == "expected":
            mu = np.exp(X @ theta[:p] + offset)
            w = mu / (1.0 + np.exp(theta[-1]) * mu)  # IRLS weights of glm.nb at theta
            cov_full[:p, :p] = linalg.inv((X * w[:, None]).T @ X)
            cov_full[:p, p] = cov_full[p, :p] = 0.0
            cov_full[p, p] = -1.0 / hess[p, p]  # glm.nb: theta SE given the means
            cov_type = "expected"
    alpha = float(np.exp(theta[-1]))
    return _negbin_result(theta[:p], alpha, alpha * float(np.sqrt(cov_full[p, p])), cov_full,
                          names, ll, n, groups, cov_type, iterations)


def _negbin_result(beta, alpha, alpha_se, cov_full, names, ll, n, groups, cov_type,
                   iterations) -> NegBinFit:
    p = len(names)
    full = [*names, "log_alpha"]
    cov_full = pd.DataFrame(cov_full, index=full, columns=full)
    return NegBinFit(
        params=pd.Series(beta, index=names),
        bse=pd.Series(np.sqrt(np.diag(cov_full.to_numpy())[:p]), index=names),
        cov=cov_full.iloc[:p, :p], cov_full=cov_full, alpha=alpha, alpha_se=alpha_se,
        loglik=float(ll), n_obs=n,
        n_groups=None if groups is None else int(pd.Series(np.asarray(groups)).nunique()),
        cov_type=cov_type, iterations=iterations)


def _poisson_boundary(beta, y, X, offset, names, groups) -> NegBinFit:
    """alpha = 0: the Poisson fit, with log alpha reported as not estimated (NaN)."""
    p = len(names)
    mu = np.exp(X @ beta + offset)
    hess = -(X * mu[:, None]).T @ X
    if groups is not None:
        cov_b, cov_type = cluster_robust_cov(X * (y - mu)[:, None], hess, groups), "cluster"
    else:
        cov_b, cov_type = linalg.inv(-hess), "observed"
    cov_full = np.full((p + 1, p + 1), np.nan)
    cov_full[:p, :p] = cov_b
    ll = float(np.sum(y * np.log(mu) - mu - special.gammaln(y + 1.0)))
    return _negbin_result(beta, 0.0, np.nan, cov_full, names, ll, len(y), groups, cov_type, 0)


@dataclass(frozen=True)
class MixedFit:
    """Result of :func:`fit_random_intercept` (lme4 ``summary()`` quantities)."""

    params: pd.Series
    bse: pd.Series
    sd_group: float
    sd_resid: float
    reml_criterion: float
    n_obs: int
    n_groups: int
    converged: bool
    messages: tuple[str, ...] = field(default_factory=tuple)


def fit_random_intercept(y, X: pd.DataFrame | np.ndarray, groups, *, reml: bool = True) -> MixedFit:
    """Linear mixed model with a random intercept per group (statsmodels ``MixedLM``).

    ``y = X b + u_g + e``, ``u_g ~ N(0, sd_group^2)``, ``e ~ N(0, sd_resid^2)``; REML by
    default. Agrees with R ``lme4::lmer(y ~ x + (1 | g), REML = TRUE)``: fixed effects,
    their standard errors ``(X' V^-1 X)^-1``, the two standard deviations and the
    REML criterion (``-2 * restricted log-likelihood``).
    """
    from statsmodels.regression.mixed_linear_model import MixedLM  # heavy import: lazily

    names = list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else \
        [f"x{i}" for i in range(np.shape(X)[1])]
    Xa = np.asarray(X, dtype="float64")
    if np.linalg.matrix_rank(Xa) < Xa.shape[1]:
        raise ModelFitError(f"the design matrix is singular (columns {names})")
    model = MixedLM(np.asarray(y, dtype="float64"), Xa, groups=np.asarray(groups))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(reml=reml)
    messages = tuple(sorted({str(w.message).splitlines()[0] for w in caught}))
    k = Xa.shape[1]
    return MixedFit(
        params=pd.Series(np.asarray(res.fe_params), index=names),
        bse=pd.Series(np.asarray(res.bse_fe)[:k], index=names),
        sd_group=float(np.sqrt(np.asarray(res.cov_re)[0, 0])),
        sd_resid=float(np.sqrt(res.scale)),
        reml_criterion=float(-2.0 * res.llf),
        n_obs=int(Xa.shape[0]), n_groups=int(pd.Series(np.asarray(groups)).nunique()),
        converged=bool(res.converged), messages=messages,
    )


# --------------------------------------------------------------------------------------
# Shared model preparation
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sizes:
    min_units: int
    min_obs: int
    comfortable_units: int
    comfortable_obs: int


def _predictor_column(p: str, lag: int) -> str:
    return p if lag == 0 else f"{p}_lag{lag}"


def _check_args(panel: pd.DataFrame, outcome: str, predictors: Sequence[str], lag: int,
                extra: Sequence[str]) -> tuple[str, ...]:
    problems: list[str] = []
    if isinstance(predictors, str):
        predictors = (predictors,)
    predictors = tuple(predictors)
    if not predictors:
        problems.append("parameter 'predictors' must name at least one construct")
    if not isinstance(lag, (int, np.integer)) or isinstance(lag, bool) or lag < 0:
        problems.append(f"parameter 'lag' must be an integer >= 0 (quarters); given {lag!r}")
        lag = 0
    for name, col in [("outcome", outcome), *[("", c) for c in extra]]:
        if col not in panel.columns:
            problems.append(f"{'parameter ' + repr(name) + ': ' if name else ''}column "
                            f"'{col}' is not in the panel")
    for p in predictors:
        col = _predictor_column(p, lag)
        if col not in panel.columns:
            problems.append(f"predictor '{p}' at lag {lag} needs column '{col}', not in the "
                            "panel (build_panel(..., lags=...) adds lagged columns)")
    for col in (UNIT, QUARTER):
        if col not in panel.columns:
            problems.append(f"the panel needs a '{col}' column")
    if problems:
        raise ConfigError("invalid model specification:\n  - " + "\n  - ".join(problems))
    return predictors


def _panel_qindex(panel: pd.DataFrame) -> pd.Series:
    if QINDEX in panel.columns:
        return panel[QINDEX].astype("int64")
    problems: list[Problem] = []
    qi = _quarter_index(panel[QUARTER], "panel", problems)
    if problems:
        raise ValidationError(problems, source="panel")
    return qi.astype("int64")


def _usable(panel: pd.DataFrame, outcome: str, cols: Sequence[str], lag: int,
            exposure: str | None) -> tuple[pd.Series, pd.DataFrame]:
    """Which rows a model can use, and a tidy account of the rest (first reason wins)."""
    qi = _panel_qindex(panel)
    units = panel[UNIT].astype("string")
    have = pd.MultiIndex.from_arrays([units, qi])
    prior_row = pd.Series(pd.MultiIndex.from_arrays([units, qi - lag]).isin(have),
                          index=panel.index)
    lag_txt = "the same quarter" if lag == 0 else f"quarter t-{lag}"
    reasons: list[tuple[str, pd.Series]] = [
        ("outcome missing", panel[outcome].isna()),
    ]
    if exposure is not None:
        e = pd.to_numeric(panel[exposure], errors="coerce")
        reasons.append(("exposure missing or zero (log offset undefined)", ~(e > 0)))
    missing_x = panel[list(cols)].isna().any(axis=1)
    reasons += [
        (f"no panel row for {lag_txt} (start of the unit's series or a gap)",
         missing_x & ~prior_row),
        (f"score at {lag_txt} suppressed or not released", missing_x),
    ]
    taken, rows = _account_drops(reasons, units)
    return ~taken, pd.DataFrame(rows, columns=["reason", "n_rows", "n_units"])


def _account_drops(reasons: Sequence[tuple[str, pd.Series]], units: pd.Series
                   ) -> tuple[pd.Series, list[dict]]:
    """Rows dropped for each reason, first reason wins, so the counts add up to the total."""
    taken = pd.Series(False, index=units.index)
    rows = []
    for reason, mask in reasons:
        hit = mask.fillna(True).astype(bool) & ~taken
        if hit.any():
            rows.append({"reason": reason, "n_rows": int(hit.sum()),
                         "n_units": int(units[hit].nunique())})
        taken |= hit
    return taken, rows


def _guard(n_obs: int, n_units: int, sizes: _Sizes, what: str) -> list[str]:
    if n_units < sizes.min_units or n_obs < sizes.min_obs:
        raise InsufficientDataError(
            f"{what}: {n_units} unit(s) and {n_obs} unit-quarter(s) are usable; at least "
            f"{sizes.min_units} units (min_units) and {sizes.min_obs} unit-quarters (min_obs) "
            "are needed for an honest estimate")
    notes = []
    if n_units < sizes.comfortable_units or n_obs < sizes.comfortable_obs:
        notes.append(
            f"Small sample: {n_units} units and {n_obs} unit-quarters (comfortable: "
            f"{sizes.comfortable_units} units and {sizes.comfortable_obs} unit-quarters). "
            "With few units, cluster-robust confidence intervals tend to be too narrow "
            "(Cameron & Miller 2015); read the direction, not the exact size.")
    return notes


def _within_between(d: pd.DataFrame, cols: Sequence[str], predictors: Sequence[str]
                    ) -> tuple[pd.DataFrame, list[str]]:
    """Mundlak split: unit mean (centred on the mean of unit means) and deviation from it."""
    means = d.groupby(UNIT, sort=False)[list(cols)].transform("mean")
    X = pd.DataFrame({"const": 1.0}, index=d.index)
    for p, c in zip(predictors, cols, strict=True):
        X[f"{p}:within"] = d[c] - means[c]
    unit_means = means.groupby(d[UNIT], sort=False).first()
    for p, c in zip(predictors, cols, strict=True):
        X[f"{p}:between"] = means[c] - unit_means[c].mean()
    problems = []
    for name in X.columns[1:]:
        if X[name].abs().max() < 1e-12:
            side = "within units (scores never change)" if name.endswith("within") \
                else "between units (all unit means equal)"
            problems.append(f"'{name.split(':')[0]}' does not vary {side}")
    if problems:
        raise InsufficientDataError("cannot separate within and between associations: "
                                    + "; ".join(problems))
    singles = int((d.groupby(UNIT, sort=False).size() == 1).sum())
    notes = []
    if singles:
        notes.append(f"{singles} unit(s) contribute a single quarter: they inform the "
                     "between-unit estimate only.")
    return X, notes


_WORDING = ("These are associations in observational data, not evidence of cause and effect: "
            "other differences between units and periods can produce them.")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkageResult:
    """A culture -> quality model.

    Attributes
    ----------
    kind : ``"count"`` (negative binomial) or ``"continuous"`` (mixed model).
    outcome, predictors, lag : the specification.
    table : tidy DataFrame, one row per predictor x component, columns ``term`` (construct),
        ``component`` (``within``: change inside a unit, relative to its own average;
        ``between``: difference between units' averages), ``estimate`` (log rate ratio for
        counts, outcome units for continuous), ``se``, ``rate_ratio`` (exp(estimate);
        NaN for continuous models), ``ci_low`` / ``ci_high`` (95 %, bounds of
        ``rate_ratio`` for count models and of ``estimate`` for continuous models),
        ``p`` (two-sided, normal), ``n_obs``, ``n_units``.
    params : every estimated parameter (intercept, dispersion or variance components).
    dropped : ``reason``, ``n_rows``, ``n_units``: panel rows not used and why.
    n_obs, n_units : the estimation sample.
    notes : plain-language caveats (sample size, dropped rows, how to read the numbers).
    method : the model in words and the reference implementation it agrees with.
    """

    kind: str
    outcome: str
    predictors: tuple[str, ...]
    lag: int
    table: pd.DataFrame
    params: pd.DataFrame
    dropped: pd.DataFrame
    n_obs: int
    n_units: int
    notes: tuple[str, ...]
    method: str

    def summary(self) -> str:
        when = "in the same quarter" if self.lag == 0 else \
            f"{self.lag} quarter{'s' if self.lag > 1 else ''} earlier"
        lines = [f"{self.outcome}: {self.method}",
                 f"{self.n_obs} unit-quarters from {self.n_units} units; culture scores "
                 f"measured {when}."]
        earlier = "" if self.lag == 0 else \
            f" {'one quarter' if self.lag == 1 else f'{self.lag} quarters'} earlier"
        for r in self.table.itertuples(index=False):
            if self.kind == "count":
                size = (f"a {self.outcome} rate {r.rate_ratio:.2f} times as high (95% CI "
                        f"{r.ci_low:.2f} to {r.ci_high:.2f}; p = {r.p:.2g})")
            else:
                size = (f"{self.outcome} {r.estimate:+.3g} (95% CI {r.ci_low:+.3g} to "
                        f"{r.ci_high:+.3g}; p = {r.p:.2g})")
            if r.component == "within":
                lines.append(f"- Within units: {r.term} one point above the unit's own "
                             f"average{earlier} is associated with {size}.")
            else:
                lines.append(f"- Between units: a unit whose average {r.term} is one point "
                             f"higher is associated with {size}.")
        if len(self.dropped):
            lines.append("Not used: " + "; ".join(
                f"{r.n_rows} row(s): {r.reason}" for r in self.dropped.itertuples(index=False)))
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<pre>{html.escape(self.summary())}</pre>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def _table(predictors, estimates: pd.Series, se: pd.Series, n_obs, n_units, *, ratio: bool):
    rows = []
    for p in predictors:
        for comp in ("within", "between"):
            name = f"{p}:{comp}"
            b, s = float(estimates[name]), float(se[name])
            lo, hi = b - _Z975 * s, b + _Z975 * s
            rows.append({
                "term": p, "component": comp, "estimate": b, "se": s,
                "rate_ratio": float(np.exp(b)) if ratio else np.nan,
                "ci_low": float(np.exp(lo)) if ratio else lo,
                "ci_high": float(np.exp(hi)) if ratio else hi,
                "p": float(2.0 * stats.norm.sf(abs(b / s))) if s > 0 else np.nan,
                "n_obs": n_obs, "n_units": n_units,
            })
    return pd.DataFrame(rows)


def _dropped_note(dropped: pd.DataFrame, n_obs: int) -> list[str]:
    total = int(dropped["n_rows"].sum())
    if not total:
        return []
    share = total / (total + n_obs)
    msg = f"{total} panel row(s) ({share:.0%}) could not be used (see .dropped)."
    if share > 0.3:
        msg += " With this many rows missing, the result may not describe the whole organisation."
    return [msg]


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

def count_model(panel: pd.DataFrame, *, outcome: str, predictors: Sequence[str], lag: int = 1,
                exposure: str = EXPOSURE, cluster: str = UNIT, min_units: int = 10,
                min_obs: int = 30, comfortable_units: int = 30,
                comfortable_obs: int = 100) -> LinkageResult:
    """Negative binomial model of an event count on lagged culture, within and between units.

    ``log E[y_it] = b0 + sum_p [bw_p (x_p,i,t-lag - xbar_p,i) + bb_p xbar_p,i]
    + log(exposure_it)``, with NB2 variance ``mu + alpha mu^2`` estimated by maximum
    likelihood and standard errors clustered by ``cluster`` (Stata
    ``nbreg y xw xb, exposure(e) vce(cluster unit)``; R ``MASS::glm.nb(y ~ xw + xb +
    offset(log(e)))`` with ``sandwich::vcovCL(fit, cluster = ~unit)`` for the SEs). The
    unit mean ``xbar`` is taken over the estimation sample (Mundlak 1978; Allison 2009,
    *Fixed Effects Regression Models*, ch. 3 "hybrid method"; Bell & Jones 2015).

    Parameters
    ----------
    panel : DataFrame from :func:`build_panel` (or with the same columns).
    outcome : count column, e.g. ``"nc_customer"`` (see :data:`COUNT_OUTCOMES`).
    predictors : construct names; column ``<c>_lag<lag>`` (``<c>`` when ``lag=0``) is used.
    lag : quarters between the culture score and the outcome.
    exposure : column used as ``log`` offset; rows with exposure <= 0 are dropped.
    cluster : column to cluster standard errors on (the unit).
    min_units, min_obs : below either, :class:`~culture.errors.InsufficientDataError`.
    comfortable_units, comfortable_obs : below either, a caution in ``.notes``.

    Returns
    -------
    LinkageResult
        ``rate_ratio`` is per one-point difference in the construct score.
    """
    predictors = _check_args(panel, outcome, predictors, lag, (exposure, cluster))
    cols = [_predictor_column(p, lag) for p in predictors]
    usable, dropped = _usable(panel, outcome, cols, lag, exposure)
    d = pd.DataFrame({UNIT: panel.loc[usable, UNIT].astype("string"),
                      "cluster": panel.loc[usable, cluster].astype("string"),
                      "y": pd.to_numeric(panel.loc[usable, outcome]).astype("float64"),
                      "offset": np.log(pd.to_numeric(panel.loc[usable, exposure])
                                       .astype("float64"))})
    for c in cols:
        d[c] = panel.loc[usable, c].astype("float64")
    y = d["y"].to_numpy()
    if ((y < 0) | (y != np.round(y))).any():
        raise ConfigError(f"parameter 'outcome': column '{outcome}' must hold counts "
                          "(integers >= 0); use continuous_model for other outcomes")
    sizes = _Sizes(min_units, min_obs, comfortable_units, comfortable_obs)
    n_obs, n_units = len(d), int(d[UNIT].nunique())
    notes = _guard(n_obs, n_units, sizes, f"count model of '{outcome}'")
    X, wb_notes = _within_between(d, cols, predictors)
    fit = fit_negbin(d["y"], X, offset=d["offset"], groups=d["cluster"])
    n_clusters = int(d["cluster"].nunique())
    notes += wb_notes + _dropped_note(dropped, n_obs)
    if fit.alpha == 0.0:
        notes.append("No overdispersion was found (alpha at 0): the estimates equal a "
                     "Poisson model.")
    notes += [f"Rate ratios are per one-point difference in the released score of each "
              f"construct, with 95% CIs clustered by {cluster} ({n_clusters} clusters).",
              _WORDING]
    params = pd.DataFrame({
        "parameter": [*fit.params.index, "alpha"],
        "estimate": [*fit.params.to_numpy(), fit.alpha],
        "se": [*fit.bse.to_numpy(), fit.alpha_se],
    })
    return LinkageResult(
        kind="count", outcome=outcome, predictors=predictors, lag=lag,
        table=_table(predictors, fit.params, fit.bse, n_obs, n_units, ratio=True),
        params=params, dropped=dropped, n_obs=n_obs, n_units=n_units, notes=tuple(notes),
        method="negative binomial (NB2) regression with log(exposure) offset, "
               "within/between (hybrid) terms and unit-clustered SEs "
               "(as Stata nbreg ..., exposure() vce(cluster))")


def continuous_model(panel: pd.DataFrame, *, outcome: str, predictors: Sequence[str],
                     lag: int = 1, min_units: int = 10, min_obs: int = 30,
                     comfortable_units: int = 30, comfortable_obs: int = 100) -> LinkageResult:
    """Random-intercept mixed model of a continuous KPI on lagged culture, within/between.

    ``y_it = b0 + sum_p [bw_p (x_p,i,t-lag - xbar_p,i) + bb_p xbar_p,i] + u_i + e_it``,
    ``u_i ~ N(0, tau^2)``, REML (R ``lme4::lmer(y ~ xw + xb + (1 | unit_id))``; the
    within-between random-effects model of Bell & Jones 2015). For CAPA days-to-close
    and on-time share (:data:`CONTINUOUS_OUTCOMES`); each unit-quarter counts once
    whatever the number of CAPAs behind it.

    Returns
    -------
    LinkageResult
        ``estimate`` is the difference in the outcome per one-point difference in the
        score; ``ci_low``/``ci_high`` bound the estimate; ``params`` holds the
        intercept and the unit and residual standard deviations.
    """
    predictors = _check_args(panel, outcome, predictors, lag, ())
    cols = [_predictor_column(p, lag) for p in predictors]
    usable, dropped = _usable(panel, outcome, cols, lag, None)
    yv = pd.to_numeric(panel.loc[usable, outcome], errors="coerce")
    if yv.isna().any():
        raise ConfigError(f"parameter 'outcome': column '{outcome}' must be numeric")
    d = pd.DataFrame({UNIT: panel.loc[usable, UNIT].astype("string"),
                      "y": yv.astype("float64")})
    for c in cols:
        d[c] = panel.loc[usable, c].astype("float64")
    sizes = _Sizes(min_units, min_obs, comfortable_units, comfortable_obs)
    n_obs, n_units = len(d), int(d[UNIT].nunique())
    notes = _guard(n_obs, n_units, sizes, f"mixed model of '{outcome}'")
    X, wb_notes = _within_between(d, cols, predictors)
    fit = fit_random_intercept(d["y"], X, d[UNIT].to_numpy(), reml=True)
    notes += wb_notes + _dropped_note(dropped, n_obs)
    if fit.sd_group < 1e-6 * max(fit.sd_resid, 1e-12):
        notes.append("The unit random-intercept variance is estimated at 0 (singular fit): "
                     "units do not differ beyond what the predictors explain.")
    if not fit.converged or fit.messages:
        notes.append("The mixed model optimiser reported: "
                     + ("; ".join(fit.messages) or "no convergence") + ".")
    notes += [f"Differences are in the units of {outcome} per one-point difference in the "
              "released score; unit and residual standard deviations are in .params.",
              _WORDING]
    params = pd.DataFrame({
        "parameter": [*fit.params.index, "sd_unit", "sd_residual"],
        "estimate": [*fit.params.to_numpy(), fit.sd_group, fit.sd_resid],
        "se": [*fit.bse.to_numpy(), np.nan, np.nan],
    })
    return LinkageResult(
        kind="continuous", outcome=outcome, predictors=predictors, lag=lag,
        table=_table(predictors, fit.params, fit.bse, n_obs, n_units, ratio=False),
        params=params, dropped=dropped, n_obs=n_obs, n_units=n_units, notes=tuple(notes),
        method="linear mixed model with unit random intercepts (REML), within/between "
               "terms (as lme4::lmer(y ~ ... + (1 | unit)))")


# --------------------------------------------------------------------------------------
# Cross-lagged
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CrossLaggedResult:
    """Both directions between a construct and an outcome rate, one quarter apart.

    ``table`` has one row per path (``path`` = ``culture -> outcome`` or
    ``outcome -> culture``, plus the two autoregressive ``stability`` rows) with the
    standardised ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p``, ``n_obs``,
    ``n_units``. ``difference`` is |culture->outcome| - |outcome->culture| with its
    ``difference_se`` and ``difference_p``; ``dominant`` is ``"culture -> outcome"``,
    ``"outcome -> culture"`` or ``"neither"`` (difference not significant at 5 %).
    """

    construct: str
    outcome: str
    table: pd.DataFrame
    difference: float
    difference_se: float
    difference_p: float
    dominant: str
    dropped: pd.DataFrame
    n_obs: int
    n_units: int
    notes: tuple[str, ...]

    def summary(self) -> str:
        t = self.table.set_index("path")
        co, oc = t.loc["culture -> outcome"], t.loc["outcome -> culture"]
        lines = [
            f"{self.construct} and the {self.outcome} rate, one quarter apart, within units "
            f"({self.n_obs} unit-quarters, {self.n_units} units; standardised effects):",
            f"- {self.construct}(t-1) -> {self.outcome} rate(t): {co.estimate:+.3f} "
            f"(95% CI {co.ci_low:+.3f} to {co.ci_high:+.3f}, p = {co.p:.3g})",
            f"- {self.outcome} rate(t-1) -> {self.construct}(t): {oc.estimate:+.3f} "
            f"(95% CI {oc.ci_low:+.3f} to {oc.ci_high:+.3f}, p = {oc.p:.3g})",
        ]
        if self.dominant == "neither":
            lines.append(f"Neither direction is clearly larger (difference in size "
                         f"{self.difference:+.3f}, p = {self.difference_p:.3g}).")
        else:
            lines.append(f"The {self.dominant} association is the larger one (difference in "
                         f"size {self.difference:+.3f}, p = {self.difference_p:.3g}).")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<pre>{html.escape(self.summary())}</pre>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def cross_lagged(panel: pd.DataFrame, *, construct: str, outcome: str,
                 exposure: str = EXPOSURE, min_units: int = 10, min_obs: int = 30,
                 comfortable_units: int = 30, comfortable_obs: int = 100) -> CrossLaggedResult:
    """Cross-lagged panel regressions between a construct and an outcome rate, within units.

    With ``r = outcome / exposure`` and ``c`` the construct score, on rows where
    ``c_t, c_t-1, r_t, r_t-1`` all exist (consecutive quarters, never bridged), after
    removing unit means (unit fixed effects: stable differences between units are
    controlled) and dividing by the within-unit standard deviation::

        r_t = a_r r_t-1 + b_co c_t-1 + e1      (culture -> outcome)
        c_t = a_c c_t-1 + b_oc r_t-1 + e2      (outcome -> culture)

    Least squares with standard errors clustered by unit, the two equations jointly
    (stacked scores) so the difference ``|b_co| - |b_oc|`` gets a delta-method SE.
    Equivalent to R ``plm(r ~ lag(r) + lag(c), model = "within")`` with clustered
    ``vcovHC`` on standardised variables. Lagged-dependent-variable fixed-effects
    estimates are biased in short panels (Nickell 1981); the random-intercept
    cross-lagged panel model (Hamaker, Kuiper & Grasman 2015) is the fuller treatment.

    Returns
    -------
    CrossLaggedResult
    """
    _check_args(panel, outcome, (construct,), 0, (exposure,))
    qi = _panel_qindex(panel)
    base = pd.DataFrame({UNIT: panel[UNIT].astype("string"), QINDEX: qi,
                         "c": panel[construct].astype("float64"),
                         "y": pd.to_numeric(panel[outcome]).astype("float64"),
                         "e": pd.to_numeric(panel[exposure], errors="coerce").astype("float64")})
    d = base.merge(_lag_frame(base, ["c", "y", "e"], 1), on=[UNIT, QINDEX], how="left")
    d.index = panel.index
    have = pd.MultiIndex.from_arrays([base[UNIT], base[QINDEX]])
    prior = pd.Series(pd.MultiIndex.from_arrays([base[UNIT], base[QINDEX] - 1]).isin(have),
                      index=panel.index)
    d["r"] = (d["y"] / d["e"]).where(d["e"] > 0)
    d["r_lag1"] = (d["y_lag1"] / d["e_lag1"]).where(d["e_lag1"] > 0)
    reasons = [
        ("no panel row for quarter t-1 (start of the unit's series or a gap)", ~prior),
        ("outcome missing at t or t-1", d["y"].isna() | d["y_lag1"].isna()),
        ("exposure missing or zero at t or t-1 (rate undefined)",
         ~(d["e"] > 0) | ~(d["e_lag1"] > 0)),
        ("score at t or t-1 suppressed or not released", d["c"].isna() | d["c_lag1"].isna()),
    ]
    taken, rows = _account_drops(reasons, d[UNIT])
    d = d[~taken]
    one = d.groupby(UNIT)[UNIT].transform("size") == 1
    if one.any():  # demeaning leaves nothing of a unit with one usable quarter
        rows.append({"reason": "unit has a single usable quarter (no within-unit change)",
                     "n_rows": int(one.sum()), "n_units": int(d.loc[one, UNIT].nunique())})
        d = d[~one]
    dropped = pd.DataFrame(rows, columns=["reason", "n_rows", "n_units"])
    sizes = _Sizes(min_units, min_obs, comfortable_units, comfortable_obs)
    n_obs, n_units = len(d), int(d[UNIT].nunique())
    notes = _guard(n_obs, n_units, sizes, f"cross-lagged model of '{construct}' and '{outcome}'")

    v = ["r", "c", "r_lag1", "c_lag1"]
    within = d[v] - d.groupby(UNIT)[v].transform("mean")
    sd = within.std(ddof=1)
    if (sd < 1e-12).any():
        raise InsufficientDataError("cross-lagged model: "
                                    + ", ".join(f"'{k}'" for k in sd.index[sd < 1e-12])
                                    + " does not vary within units")
    z = within / sd
    X = z[["r_lag1", "c_lag1"]].to_numpy()
    Y = z[["r", "c"]].to_numpy()
    xtx = X.T @ X
    B = linalg.solve(xtx, X.T @ Y, assume_a="pos")  # column 0: rate eq., 1: culture eq.
    resid = Y - X @ B
    scores = np.column_stack([X * resid[:, [0]], X * resid[:, [1]]])
    hess = -linalg.block_diag(xtx, xtx)
    cov = cluster_robust_cov(scores, hess, d[UNIT].to_numpy(), linear=True)
    est = np.r_[B[:, 0], B[:, 1]]  # a_r, b_co, b_oc, a_c
    se = np.sqrt(np.diag(cov))
    labels = [("outcome stability", "rate(t-1) -> rate(t)"),
              ("culture -> outcome", f"{construct}(t-1) -> {outcome} rate(t)"),
              ("outcome -> culture", f"{outcome} rate(t-1) -> {construct}(t)"),
              ("culture stability", f"{construct}(t-1) -> {construct}(t)")]
    table = pd.DataFrame({
        "path": [a for a, _ in labels], "description": [b for _, b in labels],
        "estimate": est, "se": se, "ci_low": est - _Z975 * se, "ci_high": est + _Z975 * se,
        "p": 2.0 * stats.norm.sf(np.abs(est / se)), "n_obs": n_obs, "n_units": n_units,
    }).iloc[[1, 2, 0, 3]].reset_index(drop=True)
    # |b_co| - |b_oc| by the delta method, using the cross-equation covariance
    grad = np.array([0.0, np.sign(est[1]), -np.sign(est[2]), 0.0])
    diff = abs(est[1]) - abs(est[2])
    diff_se = float(np.sqrt(grad @ cov @ grad))
    diff_p = float(2.0 * stats.norm.sf(abs(diff) / diff_se)) if diff_se > 0 else np.nan
    dominant = "neither" if not diff_p < 0.05 else \
        ("culture -> outcome" if diff > 0 else "outcome -> culture")
    notes += _dropped_note(dropped, n_obs)
    notes += [
        "Effects are in within-unit standard deviations: how far a unit's next-quarter value "
        "moves, relative to its own average, per within-unit SD of the earlier variable.",
        "Stable differences between units are removed (unit fixed effects); with few "
        "quarters per unit the stability (autoregressive) terms are biased downwards "
        "(Nickell 1981), and feedback from the stronger path can push the weaker path "
        "somewhat away from zero: judge the smaller path with caution.",
        "Which path is larger is a pattern in the timing of changes, not proof of cause "
        "and effect; other differences between units and periods can produce it.",
    ]
    return CrossLaggedResult(
        construct=construct, outcome=outcome, table=table, difference=float(diff),
        difference_se=diff_se, difference_p=diff_p, dominant=dominant, dropped=dropped,
        n_obs=n_obs, n_units=n_units, notes=tuple(notes))
