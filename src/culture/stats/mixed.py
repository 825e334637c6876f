"""Linear mixed models with a random intercept per unit (statsmodels MixedLM).

:func:`fit_random_intercept` agrees with R ``lme4::lmer(y ~ x + (1 | unit))``;
:func:`mixed_trend` fits scores on time with units random (random intercepts, and
slopes where asked), as ``lme4::lmer(value ~ time + (time | group))``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from culture.errors import (
    InsufficientDataError,
    ModelFitError,
    Problem,
    TrendInputError,
)
from culture.results import Result
from culture.stats.change import check_conf, z_quantile


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



# --------------------------------------------------------------------------- mixed model


@dataclass(frozen=True)
class MixedTrend(Result):
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

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'linear mixed model of scores on time, units random',
                "reference": 'R lme4::lmer(value ~ time + (time | group))'}




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
    check_conf(conf, problems)
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
    zq = z_quantile(conf)
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
