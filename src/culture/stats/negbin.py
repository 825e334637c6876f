"""Negative binomial (NB2) regression with an exposure offset and cluster-robust errors.

The agreed reference is Stata ``nbreg y x, exposure(e) vce(cluster unit)``;
coefficients and OIM standard errors also equal R ``MASS::glm.nb`` with
``offset(log(e))`` up to the information matrix used (see :func:`fit_negbin`), and
:func:`cluster_robust_cov` equals R ``sandwich::vcovCL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from culture.errors import (
    ModelFitError,
)

Z975 = float(stats.norm.ppf(0.975))

# alpha below exp(-20) ~ 2e-9 is the Poisson limit for any realistic count; stopping
# there keeps the digamma differences in the score accurate
_LOG_ALPHA_MIN = -20.0

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
