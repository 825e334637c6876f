"""Culture <-> quality outcomes: the models over the unit x quarter panel.

Everything here works on *released* unit-level aggregates (scores that already
passed suppression) joined to the quality register; nothing respondent-level.
The panel is built by :func:`culture.stats.panel.build_panel`.

Three questions, three models
-----------------------------
``count_model``
    Negative binomial (NB2) regression of an event count with a log(exposure)
    offset, lagged culture predictors and standard errors clustered by unit
    (:mod:`culture.stats.negbin`; Stata ``nbreg y x, exposure(e) vce(cluster unit)``).
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

from culture.errors import (
    ConfigError,
    InsufficientDataError,
    Problem,
    ValidationError,
)
from culture.results import Result
from culture.stats.mixed import fit_random_intercept
from culture.stats.negbin import Z975 as _Z975
from culture.stats.negbin import cluster_robust_cov, fit_negbin
from culture.stats.panel import EXPOSURE, QINDEX, QUARTER, UNIT, lag_frame, quarter_index

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
    qi = quarter_index(panel[QUARTER], "panel", problems)
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


WORDING = ("These are associations in observational data, not evidence of cause and effect: "
            "other differences between units and periods can produce them.")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkageResult(Result):
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

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'within-between (Mundlak) regression of a quality outcome on lagged released culture scores',
                "reference": 'Stata nbreg ..., exposure() vce(cluster unit); R lme4::lmer(y ~ x + (1 | unit))'}




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
              WORDING]
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
              WORDING]
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
class CrossLaggedResult(Result):
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

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'cross-lagged within-unit regressions, culture(t-1) -> outcome rate(t) and back',
                "reference": 'within-unit OLS with unit-clustered covariance (sandwich::vcovCL)'}




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
    d = base.merge(lag_frame(base, ["c", "y", "e"], 1), on=[UNIT, QINDEX], how="left")
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
