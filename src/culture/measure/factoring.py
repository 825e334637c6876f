"""Exploratory factoring for omega: minres extraction, varimax and oblimin rotations.

Agree with R ``psych::fa(fm = "minres")`` and ``GPArotation::oblimin``; used by
:func:`culture.measure.reliability.omega` (Schmid-Leiman needs an oblique solution).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from culture.measure.inputs import smc

# ---------------------------------------------------------------------------
# exploratory factoring: minres, varimax, oblimin (psych::fa / GPArotation)
# ---------------------------------------------------------------------------

_EPS = np.finfo(float).eps


def minres(r: np.ndarray, n_factors: int) -> np.ndarray:
    """Minimum-residual (ULS) factor loadings as ``psych::fa(r, nf, fm="minres", rotate="none")``.

    Minimises the residual sum of squares over uniquenesses psi in [.005, 1]
    (psych's bounds), starting from 1 - smc; loadings are the first ``n_factors``
    eigenvectors of R - diag(psi) scaled by the root eigenvalues. Columns are signed
    so that their sums are positive, as psych does.
    """
    k = r.shape[0]
    s = smc(r)
    start = np.full(k, 0.5) if (np.isclose(s.sum(), n_factors) and n_factors > 1) else 1 - s
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


def varimax(load: np.ndarray, eps: float = 1e-5) -> np.ndarray:
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


def oblimin(a: np.ndarray, eps: float = 1e-5, maxit: int = 1000) -> tuple[np.ndarray, np.ndarray]:
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
