"""Key-driver analysis: which culture constructs carry an outcome, allowing for their overlap.

Two complementary relative-importance methods for a linear model ``y ~ X``:

* :func:`relative_weights` - Johnson's (2000) relative weights, with bootstrap
  percentile confidence intervals (R ``rwa``);
* :func:`dominance_analysis` - general, conditional and complete dominance
  (Budescu 1993; Azen & Budescu 2003; R ``domir``).

Both work from correlation matrices, so all R^2 values of all subsets or
bootstrap samples are computed with stacked (batched) linear algebra, never a
Python loop over respondents. Rows with any missing value are left out
(listwise) and counted in ``notes``.

Model outputs are confidential outputs: by default at least 30 complete rows are
required (the ``models`` threshold of docs/confidentiality.md; the floor is 20).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from culture.errors import DriverInputError, InsufficientDataError, Problem
from culture.results import Result

__all__ = [
    "MAX_DOMINANCE_PREDICTORS",
    "DominanceResult",
    "DriverInputError",
    "RelativeWeights",
    "dominance_analysis",
    "relative_weights",
]

MIN_N_FLOOR = 20
# 2^p - 1 subset regressions; 12 predictors is 4095 small solves, still instant.
MAX_DOMINANCE_PREDICTORS = 12
# Bootstrap samples per batch: bounds memory at about batch * n * (p + 1) floats.
_BOOT_BATCH = 250
# Eigenvalues of a predictor correlation matrix below this mean exact collinearity.
_EIG_TOL = 1e-10



# --------------------------------------------------------------------------- shared


def _prepare(X, y, *, min_n: int, source: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Validate, align and listwise-delete; returns data with y in column 0."""
    problems: list[Problem] = []
    if not isinstance(X, pd.DataFrame):
        problems.append(Problem("X", "must be a DataFrame with one column per predictor"))
    if not isinstance(y, pd.Series):
        problems.append(Problem("y", "must be a Series aligned with X"))
    if not (isinstance(min_n, int | np.integer) and min_n >= MIN_N_FLOOR):
        problems.append(Problem("min_n", f"must be a whole number >= {MIN_N_FLOOR} "
                                          "(confidentiality floor for model outputs)"))
    if problems:
        raise DriverInputError(problems, source=source)
    if X.shape[1] < 1:
        problems.append(Problem("X", "needs at least one predictor column"))
    if not X.columns.is_unique:
        problems.append(Problem("X", "column names must be unique"))
    non_num = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_num:
        problems.append(Problem("X", f"column(s) {', '.join(non_num)} must be numeric"))
    if not pd.api.types.is_numeric_dtype(y):
        problems.append(Problem("y", "must be numeric"))
    if len(X) != len(y) or not X.index.equals(y.index):
        problems.append(Problem("X, y", "must have the same index (one row per respondent or unit)"))
    if y.name is not None and y.name in X.columns:
        problems.append(Problem("y", "the outcome must not also be a predictor"))
    if problems:
        raise DriverInputError(problems, source=source)

    data = pd.concat([y.rename("__y__"), X], axis=1).astype(np.float64)
    complete = data.dropna()
    notes = []
    if len(complete) < len(data):
        notes.append(f"{len(data) - len(complete)} row(s) with a missing value left out (listwise)")
    p = X.shape[1]
    if len(complete) < max(min_n, p + 2):
        raise InsufficientDataError(
            f"{source}: {len(complete)} complete row(s); at least {max(min_n, p + 2)} are needed "
            f"for {p} predictor(s)")
    arr = complete.to_numpy()
    const = [str(c) for c, s in zip(["y", *X.columns], arr.std(axis=0), strict=True) if s == 0]
    if const:
        raise DriverInputError([Problem("X, y", f"column(s) {', '.join(const)} do not vary; "
                                                "importance is undefined")], source=source)
    return arr, [str(c) for c in X.columns], notes


def _corr_batch(data: np.ndarray) -> np.ndarray:
    """Correlation matrices of a stack of data sets, shape (B, n, k) -> (B, k, k)."""
    centred = data - data.mean(axis=-2, keepdims=True)
    cov = np.einsum("bni,bnj->bij", centred, centred)
    sd = np.sqrt(np.einsum("bii->bi", cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / (sd[:, :, None] * sd[:, None, :])


def _html(summary: str, table: pd.DataFrame) -> str:
    return f"<p>{html.escape(summary).replace(chr(10), '<br>')}</p>" + table.to_html(index=False)


# --------------------------------------------------------------------------- relative weights


def _johnson(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Johnson (2000) raw weights and the signs of the orthogonal-regression betas.

    ``corr`` is (B, k, k) with the outcome first. ``Rxx = V diag(e) V'``,
    ``Lambda = V diag(sqrt e) V'`` (the correlations of X with its closest orthonormal
    counterpart Z), ``beta = Lambda^-1 r_xy`` and ``raw = Lambda^2 beta^2``; the raw
    weights sum to R^2 (the smallest eigenvalue is returned to detect collinearity).
    ``Lambda^-1 = V diag(1/sqrt e) V'`` is taken as a
    pseudo-inverse so that a degenerate bootstrap resample cannot crash the batch.
    """
    rxx = corr[:, 1:, 1:]
    rxy = corr[:, 1:, 0]
    evals, evecs = np.linalg.eigh(rxx)
    root = np.sqrt(np.clip(evals, 0.0, None))
    inv_root = np.divide(1.0, root, out=np.zeros_like(root), where=root > _EIG_TOL)
    lam = np.einsum("bij,bj,bkj->bik", evecs, root, evecs)
    lam_inv = np.einsum("bij,bj,bkj->bik", evecs, inv_root, evecs)
    beta = np.einsum("bij,bj->bi", lam_inv, rxy)
    raw = np.einsum("bij,bj->bi", lam**2, beta**2)
    return raw, np.sign(beta), evals.min(axis=1)


@dataclass(frozen=True)
class RelativeWeights(Result):
    """Johnson relative weights.

    Attributes
    ----------
    table : DataFrame
        One row per predictor, in input order: ``predictor``, ``raw_weight``
        (share of variance; the column sums to R^2), ``ci_low``, ``ci_high``
        (bootstrap percentile CI of the raw weight), ``rescaled_pct`` (share of
        R^2, sums to 100), ``rescaled_ci_low``, ``rescaled_ci_high``, ``sign``
        (``+``/``-``: sign of the predictor's beta on the orthogonal counterparts,
        as R ``rwa``'s ``Sign``), ``rank`` (1 = largest weight).
    r_squared : R^2 of the full linear model.
    n : complete rows used.
    n_boot : bootstrap samples requested; ``n_boot_failed`` of them were degenerate.
    conf : confidence level of the intervals.
    notes : caveats.
    """

    table: pd.DataFrame
    r_squared: float
    n: int
    n_boot: int
    n_boot_failed: int
    conf: float
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        top = self.table.sort_values("rank")
        lines = [f"Relative weights (Johnson 2000): R^2 = {self.r_squared:.3f}, n = {self.n}, "
                 f"{self.n_boot} bootstrap samples, {self.conf:.0%} percentile CIs"]
        lines += [f"{r.rank}. {r.predictor}: {r.rescaled_pct:.1f}% of explained variance "
                  f"(raw {r.raw_weight:.3f}, CI {r.ci_low:.3f} to {r.ci_high:.3f})"
                  for r in top.itertuples()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'Johnson (2000) relative weights with bootstrap percentile CIs',
                "reference": 'R rwa::rwa'}




def relative_weights(X: pd.DataFrame, y: pd.Series, *, n_boot: int = 1000,
                     seed: int | None = None, conf: float = 0.95,
                     min_n: int = 30) -> RelativeWeights:
    """Johnson's (2000) relative weights with bootstrap percentile CIs.

    Raw weights partition the model R^2 among correlated predictors (Johnson, J. W.
    2000, *Multivariate Behavioral Research* 35:1-19); rescaled weights are their
    percentage of R^2. Agrees with R ``rwa::rwa(df, outcome, predictors)``
    (``Raw.RelWeight``, ``Rescaled.RelWeight``, ``Sign``).

    CIs resample rows with replacement ``n_boot`` times and take the
    ``(1 - conf)/2`` and ``(1 + conf)/2`` quantiles of each weight (Tonidandel,
    LeBreton & Johnson 2009, *Psychological Methods* 14:387-399).

    Parameters
    ----------
    X : DataFrame
        Numeric predictors (e.g. construct scores), one row per respondent or unit.
    y : Series
        Numeric outcome with the same index as ``X``.
    n_boot : int
        Bootstrap samples (0 for no intervals).
    seed : int, optional
        Seed of the bootstrap generator (``numpy.random.default_rng``).
    conf : float
        Confidence level of the intervals.
    min_n : int
        Least number of complete rows (confidentiality; >= 20).

    Returns
    -------
    :class:`RelativeWeights`
    """
    problems = []
    if not (isinstance(n_boot, int | np.integer) and n_boot >= 0):
        problems.append(Problem("n_boot", "must be a whole number >= 0"))
    if not (isinstance(conf, int | float) and 0 < conf < 1):
        problems.append(Problem("conf", "must be a number strictly between 0 and 1"))
    if problems:
        raise DriverInputError(problems, source="relative_weights")
    data, names, notes = _prepare(X, y, min_n=min_n, source="relative_weights")

    corr = _corr_batch(data[None])
    raw, sign, min_eig = _johnson(corr)
    if min_eig[0] <= _EIG_TOL:
        raise DriverInputError([Problem("X", "predictors are perfectly collinear; drop one of "
                                             "the redundant columns")], source="relative_weights")
    raw, sign = raw[0], sign[0]
    r2 = float(raw.sum())

    n, k = data.shape
    boot = np.empty((0, k - 1))
    failed = 0
    if n_boot:
        rng = np.random.default_rng(seed)
        chunks = []
        for start in range(0, n_boot, _BOOT_BATCH):
            size = min(_BOOT_BATCH, n_boot - start)
            idx = rng.integers(0, n, size=(size, n))
            c = _corr_batch(data[idx])
            ok = np.isfinite(c).all(axis=(1, 2))
            w = np.full((size, k - 1), np.nan)
            if ok.any():
                # A resample can be degenerate (a constant or collinear column): leave it out.
                bw, _, beig = _johnson(c[ok])
                good = np.flatnonzero(ok)[beig > _EIG_TOL]
                w[good] = bw[beig > _EIG_TOL]
                ok[:] = False
                ok[good] = True
            failed += int((~ok).sum())
            chunks.append(w)
        boot = np.vstack(chunks)
        if failed:
            notes.append(f"{failed} of {n_boot} bootstrap samples were degenerate and left out")
    lo_q, hi_q = (1 - conf) / 2, (1 + conf) / 2
    if boot.size and np.isfinite(boot).any():
        ci = np.nanquantile(boot, [lo_q, hi_q], axis=0)
        pct = 100 * boot / boot.sum(axis=1, keepdims=True)
        pci = np.nanquantile(pct, [lo_q, hi_q], axis=0)
    else:
        ci = pci = np.full((2, k - 1), np.nan)

    rescaled = 100 * raw / r2
    table = pd.DataFrame({
        "predictor": names, "raw_weight": raw, "ci_low": ci[0], "ci_high": ci[1],
        "rescaled_pct": rescaled, "rescaled_ci_low": pci[0], "rescaled_ci_high": pci[1],
        "sign": np.where(sign > 0, "+", np.where(sign < 0, "-", "0")),
    })
    table["rank"] = table["raw_weight"].rank(ascending=False, method="min").astype(np.int64)
    return RelativeWeights(table=table, r_squared=r2, n=n, n_boot=int(n_boot),
                           n_boot_failed=failed, conf=float(conf), notes=tuple(notes))


# --------------------------------------------------------------------------- dominance


def _all_subset_r2(corr: np.ndarray) -> np.ndarray:
    """R^2 of every predictor subset, indexed by bit mask (bit i = predictor i).

    ``R^2(S) = r_S' R_SS^-1 r_S`` from the correlation matrix; subsets of equal size
    are solved together as one stacked system.
    """
    p = corr.shape[0] - 1
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    r2 = np.zeros(1 << p)
    for k in range(1, p + 1):
        subsets = np.array(list(combinations(range(p), k)))
        sub = rxx[subsets[:, :, None], subsets[:, None, :]]
        r = rxy[subsets]
        beta = np.linalg.solve(sub, r[..., None])[..., 0]
        masks = (1 << subsets).sum(axis=1)
        r2[masks] = np.einsum("si,si->s", r, beta)
    return r2


@dataclass(frozen=True)
class DominanceResult(Result):
    """Dominance analysis of a linear model's R^2.

    Attributes
    ----------
    table : DataFrame
        ``predictor``, ``general_dominance`` (average increment in R^2; sums to the full
        R^2), ``standardized`` (share of R^2), ``rank`` (1 = most important).
    conditional : DataFrame
        Conditional dominance statistics: rows predictors, columns ``1..p`` = the
        number of predictors in the model once this one is added (R ``domir``'s
        ``IVs: k``).
    complete : DataFrame
        Complete dominance designations, rows dominate columns: ``True`` if the row
        predictor adds more R^2 than the column predictor to every subset of the
        others, ``False`` if the reverse holds, ``<NA>`` if neither (R ``domir``).
    designations : DataFrame
        Long table ``predictor``, ``other``, ``complete``, ``conditional``,
        ``general``: ``True`` when ``predictor`` dominates ``other`` on that
        criterion, ``False`` when ``other`` dominates, ``<NA>`` when undetermined.
    r_squared : R^2 of the full model. n : complete rows used. notes : caveats.
    """

    table: pd.DataFrame
    conditional: pd.DataFrame
    complete: pd.DataFrame
    designations: pd.DataFrame
    r_squared: float
    n: int
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        lines = [f"Dominance analysis: R^2 = {self.r_squared:.3f}, n = {self.n}"]
        lines += [f"{r.rank}. {r.predictor}: {r.general_dominance:.3f} "
                  f"({r.standardized:.1%} of R^2)"
                  for r in self.table.sort_values("rank").itertuples()]
        full = self.designations[self.designations["complete"].eq(True).fillna(False)]
        lines += [f"{r.predictor} completely dominates {r.other}" for r in full.itertuples()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'dominance analysis over all subsets (Budescu 1993; Azen & Budescu 2003)',
                "reference": 'R domir::domin'}




def _designate(stats_i: np.ndarray, stats_j: np.ndarray) -> object:
    """True if i beats j everywhere, False if j beats i everywhere, else NA."""
    if np.all(stats_i > stats_j):
        return True
    if np.all(stats_j > stats_i):
        return False
    return pd.NA


def dominance_analysis(X: pd.DataFrame, y: pd.Series, *, min_n: int = 30) -> DominanceResult:
    """General, conditional and complete dominance of predictors of ``y``.

    For every subset S of the predictors, ``R^2(S)`` is computed; the increment of
    predictor i to S (i not in S) is ``R^2(S + i) - R^2(S)``. Conditional dominance
    ``C_k(i)`` averages the increments over subsets of size ``k - 1``; general
    dominance averages ``C_1 .. C_p`` (Budescu 1993, *Psychological Bulletin*
    114:542-551; Azen & Budescu 2003, *Psychological Methods* 8:129-148). Predictor
    i completely dominates j when ``R^2(S + i) > R^2(S + j)`` for every subset S of
    the other predictors. Agrees with R ``domir::domin(y ~ ..., lm,
    list(summary, "r.squared"))`` and ``relaimpo``'s ``lmg``.

    Parameters
    ----------
    X : DataFrame
        Numeric predictors, at most :data:`MAX_DOMINANCE_PREDICTORS` columns.
    y : Series
        Numeric outcome with the same index as ``X``.
    min_n : int
        Least number of complete rows (confidentiality; >= 20).

    Returns
    -------
    :class:`DominanceResult`
    """
    if isinstance(X, pd.DataFrame) and X.shape[1] > MAX_DOMINANCE_PREDICTORS:
        raise DriverInputError([Problem("X", f"has {X.shape[1]} predictors; dominance analysis "
                                             f"supports at most {MAX_DOMINANCE_PREDICTORS} "
                                             "(use relative_weights for more)")],
                               source="dominance_analysis")
    data, names, notes = _prepare(X, y, min_n=min_n, source="dominance_analysis")
    p = len(names)
    corr = _corr_batch(data[None])[0]
    try:
        r2 = _all_subset_r2(corr)
    except np.linalg.LinAlgError as exc:
        raise DriverInputError([Problem("X", "predictors are perfectly collinear; drop one of "
                                             "the redundant columns")],
                               source="dominance_analysis") from exc

    masks = np.arange(1 << p)
    sizes = np.array([bin(m).count("1") for m in masks])
    cond = np.empty((p, p))
    for i in range(p):
        # Increment of predictor i to every subset that does not contain it, averaged by size.
        without = masks[(masks >> i) & 1 == 0]
        gain = r2[without | (1 << i)] - r2[without]
        cond[i] = np.bincount(sizes[without], weights=gain, minlength=p)[:p] / np.bincount(
            sizes[without], minlength=p)[:p]
    general = cond.mean(axis=1)
    full_r2 = float(r2[-1])

    complete = pd.DataFrame(pd.NA, index=names, columns=names, dtype="boolean")
    rows = []
    for i, j in combinations(range(p), 2):
        # Subsets of the remaining predictors: S without i and j.
        others = masks[((masks >> i) & 1 == 0) & ((masks >> j) & 1 == 0)]
        comp = _designate(r2[others | (1 << i)], r2[others | (1 << j)])
        cnd = _designate(cond[i], cond[j])
        gen = _designate(general[i:i + 1], general[j:j + 1])
        complete.iloc[i, j] = comp
        complete.iloc[j, i] = pd.NA if comp is pd.NA else not comp
        rows.append((names[i], names[j], comp, cnd, gen))
        rows.append((names[j], names[i], *(pd.NA if v is pd.NA else not v
                                           for v in (comp, cnd, gen))))
    designations = pd.DataFrame(rows, columns=["predictor", "other", "complete",
                                               "conditional", "general"])
    for c in ("complete", "conditional", "general"):
        designations[c] = designations[c].astype("boolean")

    table = pd.DataFrame({"predictor": names, "general_dominance": general,
                          "standardized": general / full_r2})
    table["rank"] = table["general_dominance"].rank(ascending=False, method="min").astype(np.int64)
    conditional = pd.DataFrame(cond, index=pd.Index(names, name="predictor"),
                               columns=pd.RangeIndex(1, p + 1, name="n_predictors"))
    return DominanceResult(table=table, conditional=conditional, complete=complete,
                           designations=designations, r_squared=full_r2, n=len(data),
                           notes=tuple(notes))
