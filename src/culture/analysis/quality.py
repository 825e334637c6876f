"""Culture -> quality outcomes, wired to released waves.

This module connects the statistical core (:mod:`culture.stats.linkage_models`)
to what the pipeline actually produces:

* :func:`released_unit_scores` turns a set of :class:`~culture.release.Release`
  objects (one per wave/quarter) into a unit x quarter table of construct means.
  Only cells with ``status == "released"`` are taken: a unit suppressed in a
  wave has no row for that quarter, a suppressed construct is NaN.
* :func:`analyse_linkage` joins those released scores to the quality register and
  fits the negative binomial, mixed and cross-lagged models. Its public signature
  takes ``Release`` objects and never responses, so the models cannot see
  respondent-level data: the confidentiality boundary is structural.
* :func:`analyse_outcome` is one outcome's models, as ``culture link`` shows them.

Default predictor sets (:func:`default_predictors`)
---------------------------------------------------
Every count and CAPA model adjusts the instrument's headline constructs for each
other, plus the constructs the instrument links to that outcome (``quality_links``;
in the shipped instrument ``speaking_up`` for internally detected nonconformities,
because people who raise problems produce internal reports, ``compliance_risk`` for
audit findings, ``continuous_improvement`` for CAPA closure). A predictor released for
fewer units than the models threshold is left out with a note. One joint model per outcome (not one model per construct) because the
constructs correlate: a single-construct model credits each construct with the
association of every construct correlated with it (e.g. complaints move with both
ownership and communication), whereas the joint model reads "this construct, the
others held fixed". Constructs absent from the releases are left out with a note.

Everything is associational: observational data, no claim of cause and effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from culture import frames
from culture import stats as lk
from culture.boundary.aggregate import org_index
from culture.boundary.release import RELEASED, Release, Thresholds
from culture.errors import ConfigError, InsufficientDataError
from culture.measure.instrument import Instrument
from culture.results import Result

__all__ = [
    "DEFAULT_KPIS",
    "DEFAULT_OUTCOMES",
    "LinkageReport",
    "analyse_linkage",
    "analyse_outcome",
    "default_predictors",
    "released_unit_scores",
]

UNIT, QUARTER = frames.UNIT, "quarter"
DEFAULT_OUTCOMES = ("nc_customer", "nc_internal", "complaints", "audit_total")
DEFAULT_KPIS = ("capa_days_to_close_mean", "capa_on_time_share")

MODEL_COLUMNS = ("outcome", "model", "term", "component", "estimate", "se", "rate_ratio",
                 "ci_low", "ci_high", "p", "n_obs", "n_units", "lag", "method")
CROSS_COLUMNS = ("construct", "outcome", "path", "description", "estimate", "se", "ci_low",
                 "ci_high", "p", "n_obs", "n_units", "difference", "difference_p", "dominant")
FIT_COLUMNS = ("scope", "model", "status", "predictors", "n_obs", "n_units", "reason")
DROPPED_COLUMNS = ("scope", "reason", "n_rows", "n_units")
NOTE_COLUMNS = ("scope", "note")

NOTE_WORDING = ("All results are associations in observational data, not evidence that culture "
                "causes quality outcomes: other differences between units and periods can "
                "produce them.")
NOTE_DETECTION = ("Nonconformities found internally and those found by customers are modelled "
                  "separately. A rise in internally detected nonconformities is not automatically "
                  "bad news: it can mean problems are found and reported earlier (a speaking-up "
                  "culture) before they reach a customer; customer-detected nonconformities are "
                  "the escapes.")
NOTE_WITHIN = ("Within-unit estimates rest on quarter-to-quarter changes of released team means, "
               "which for small teams are largely sampling noise: they are imprecise and pulled "
               "towards 'no association' (regression dilution). Between-unit estimates use each "
               "unit's average over the quarters and are measured more reliably.")


# --------------------------------------------------------------------------------------
# Released scores: the only culture input of the linkage
# --------------------------------------------------------------------------------------

def _check_releases(releases: object) -> list[str]:
    if not isinstance(releases, Mapping) or not releases:
        return [f"parameter 'releases' must be a non-empty mapping of quarter (YYYYQn) to "
                f"Release; given {type(releases).__name__}"]
    problems = []
    for key, rel in releases.items():
        if not isinstance(rel, Release):
            problems.append(f"releases[{key!r}] must be a Release (culture.release), given "
                            f"{type(rel).__name__}; the linkage only reads released aggregates")
        elif str(key) != rel.wave:
            problems.append(f"releases[{key!r}] holds the release of wave {rel.wave!r}; the key "
                            "must be the release's own wave")
        elif not frames.WAVE_RE.match(rel.wave):
            problems.append(f"releases[{key!r}]: wave must look like 2026Q3")
    return problems


def _depths(units: pd.DataFrame) -> np.ndarray:
    """Depth from the root (0 = organisation) of each row of a release's units table.

    Computed from the ``parent_id`` links, so it does not depend on how the ``level``
    column is coded (an org chart from :mod:`culture.io` numbers levels, the synthetic
    one names them).
    """
    idx = org_index(units)
    return idx.depth[pd.Index(idx.units).get_indexer(units[UNIT].astype("string").to_numpy(
        dtype=object))]


def released_unit_scores(releases: Mapping[str, Release], *,
                         level: int | str | None = None) -> pd.DataFrame:
    """Unit x quarter construct means, from released cells only.

    Parameters
    ----------
    releases : mapping of quarter (``YYYYQn``) to :class:`~culture.release.Release`
        One release per wave; the key must equal the release's ``wave``.
    level : int, str or None
        Org level to keep: an int is the depth from the root (0 = the organisation),
        a str matches the units table's ``level`` label (e.g. ``"team"``); ``None``
        (default) keeps the deepest level over all releases (teams, where the quality
        register counts events).

    Returns
    -------
    DataFrame
        ``unit_id`` (str), ``quarter`` (str ``YYYYQn``) and one float64 column per
        construct (the released ``mean``; NaN where that construct is suppressed).
        Only rows of ``scores`` with ``kind == "construct"`` and ``status ==
        "released"`` are used (outcome indices are left out): a unit that is suppressed
        in a wave has no row for that quarter. Sorted by unit and quarter.

    Raises
    ------
    ConfigError
        Listing every problem with ``releases`` and ``level`` at once.
    """
    problems = _check_releases(releases)
    if level is not None and (isinstance(level, bool)
                              or not isinstance(level, int | np.integer | str)
                              or (not isinstance(level, str) and level < 0)):
        problems.append(f"parameter 'level' must be an org depth >= 0 (0 = organisation), a "
                        f"level label such as 'team', or None; given {level!r}")
    if problems:
        raise ConfigError("cannot read released unit scores:\n  - " + "\n  - ".join(problems))
    units_of = {w: rel.units for w, rel in releases.items()}
    depth_of = {w: _depths(u) for w, u in units_of.items()}
    deepest = max(int(d.max()) for d in depth_of.values())
    parts, labels = [], set()
    for w, rel in releases.items():
        units = units_of[w]
        labels |= set(units["level"].dropna().astype(str))
        if isinstance(level, str):
            at_level = (units["level"].astype("string") == level).fillna(False).to_numpy(bool)
        else:
            at_level = depth_of[w] == (deepest if level is None else int(level))
        keep_units = units.loc[at_level, UNIT]
        s = rel.scores
        s = s[(s["status"] == RELEASED) & (s["kind"] == "construct") & s[UNIT].isin(keep_units)]
        parts.append(pd.DataFrame({UNIT: s[UNIT].astype("string"),
                                   QUARTER: pd.Series(rel.wave, index=s.index, dtype="string"),
                                   "measure": s["measure"].astype("string"),
                                   "mean": pd.to_numeric(s["mean"]).astype("float64")}))
    if isinstance(level, str) and level not in labels:
        raise ConfigError(f"parameter 'level' = {level!r} matches no unit's level label; labels "
                          f"in the releases: {sorted(labels) or 'none (use an int depth)'}")
    long = pd.concat(parts, ignore_index=True)
    constructs = list(dict.fromkeys(long["measure"].tolist()))
    # unstack (not pivot_table) so only unit-quarters with a released cell get a row
    wide = long.set_index([UNIT, QUARTER, "measure"])["mean"].unstack("measure")
    wide = wide.reindex(columns=constructs).reset_index()
    wide.columns.name = None
    wide[UNIT] = wide[UNIT].astype("string")
    wide[QUARTER] = wide[QUARTER].astype("string")
    wide[constructs] = wide[constructs].astype("float64")
    return wide.sort_values([UNIT, QUARTER], ignore_index=True)


# --------------------------------------------------------------------------------------
# Linkage
# --------------------------------------------------------------------------------------

def default_predictors(instrument: Instrument, outcome: str,
                       available: Sequence[str] | None = None) -> tuple[str, ...]:
    """The instrument's headline constructs plus those it links to ``outcome``
    (``quality_links``), each adjusted for the others (module docstring).

    ``available`` restricts the set to constructs present in the released scores.
    """
    chosen = (*(c.id for c in instrument.headline_constructs),
              *instrument.quality_links.get(outcome, ()))
    chosen = tuple(dict.fromkeys(chosen))
    return tuple(c for c in chosen if available is None or c in available)


@dataclass(frozen=True)
class LinkageReport(Result):
    """Culture -> quality models over released unit scores.

    Tables (:attr:`tables`, tidy, one DataFrame each):

    ``models``
        ``outcome``, ``model`` (``count``: NB2 with log exposure offset;
        ``continuous``: random-intercept mixed model), ``term`` (construct),
        ``component`` (``within``: a unit above its own average; ``between``: units with
        higher averages), ``estimate`` (log rate ratio, or outcome units for continuous
        models), ``se``, ``rate_ratio`` (exp(estimate), NaN for continuous models),
        ``ci_low``/``ci_high`` (95 %; bounds of ``rate_ratio`` for counts, of
        ``estimate`` for continuous), ``p``, ``n_obs`` (unit-quarters), ``n_units``,
        ``lag`` (quarters between score and outcome), ``method``.
    ``cross_lagged``
        One row per path of each construct x outcome pair (:data:`CROSS_COLUMNS`).
    ``fits``
        One row per model: ``scope``, ``model``, ``status`` (``fitted``/``refused``),
        ``predictors``, ``n_obs``, ``n_units``, ``reason`` (why refused).
    ``dropped``
        ``scope``, ``reason``, ``n_rows``, ``n_units``: panel rows a model could not use.
    ``notes``
        ``scope``, ``note``: every caveat, per model and for the whole report.

    ``panel`` is the unit x quarter panel the models saw (released scores and register
    counts only); ``notes`` the report-level caveats.
    """

    models: pd.DataFrame
    cross_lagged: pd.DataFrame
    fits: pd.DataFrame
    dropped: pd.DataFrame
    note_table: pd.DataFrame
    panel: pd.DataFrame = field(repr=False)
    lag: int = 1
    notes: tuple[str, ...] = ()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"models": self.models.copy(), "cross_lagged": self.cross_lagged.copy(),
                "fits": self.fits.copy(), "dropped": self.dropped.copy(),
                "notes": self.note_table.copy()}

    def summary(self) -> str:
        n_fit = int((self.fits["status"] == "fitted").sum())
        lines = [f"Culture and quality outcomes: {n_fit} of {len(self.fits)} models estimated "
                 f"on released unit scores measured {self.lag} quarter(s) before the outcome."]
        for r in self.models.itertuples(index=False):
            if r.model == "count":
                size = (f"a rate {r.rate_ratio:.2f} times as high (95% CI {r.ci_low:.2f} to "
                        f"{r.ci_high:.2f})")
            else:
                size = (f"a difference of {r.estimate:+.3g} (95% CI {r.ci_low:+.3g} to "
                        f"{r.ci_high:+.3g})")
            who = ("a unit one point above its own average is" if r.component == "within"
                   else "units one point higher on average are")
            lines.append(f"- {r.outcome}, {r.term} ({r.component}): {who} associated with "
                         f"{size}.")
        for r in self.cross_lagged[self.cross_lagged["path"].isin(
                ["culture -> outcome", "outcome -> culture"])].itertuples(index=False):
            lines.append(f"- {r.description}: {r.estimate:+.3f} within-unit SD (95% CI "
                         f"{r.ci_low:+.3f} to {r.ci_high:+.3f})")
        for r in self.fits[self.fits["status"] == "refused"].itertuples(index=False):
            lines.append(f"- {r.scope}: not estimated ({r.reason})")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def table(self) -> pd.DataFrame:
        """The main table (for display; see the attributes for the rest)."""
        return self.models

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'culture -> quality models on released unit scores: NB2 count models with a log(exposure) offset and unit-clustered SEs, random-intercept models for CAPA KPIs, cross-lagged checks',
                "reference": 'Stata nbreg ..., exposure() vce(cluster unit); R MASS::glm.nb, lme4::lmer, sandwich::vcovCL'}





def _spec_problems(outcomes, kpis, predictors, pairs, lag, thresholds,
                   constructs: Sequence[str]) -> list[str]:
    problems = []
    if not isinstance(thresholds, Thresholds):
        problems.append(f"parameter 'thresholds' must be a Thresholds object, given "
                        f"{type(thresholds).__name__}")
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 1:
        problems.append(f"parameter 'lag' must be a whole number of quarters >= 1 (the culture "
                        f"score precedes the outcome); given {lag!r}")
    bad = [o for o in outcomes if o not in lk.COUNT_OUTCOMES]
    if bad:
        problems.append(f"parameter 'outcomes': {bad} not count outcomes; allowed: "
                        f"{', '.join(lk.COUNT_OUTCOMES)}")
    bad = [o for o in kpis if o not in lk.CONTINUOUS_OUTCOMES]
    if bad:
        problems.append(f"parameter 'kpis': {bad} not continuous KPIs; allowed: "
                        f"{', '.join(lk.CONTINUOUS_OUTCOMES)}")
    if predictors is not None:
        given = ({k: v for k, v in predictors.items()} if isinstance(predictors, Mapping)
                 else {"*": predictors})
        for key, preds in given.items():
            if isinstance(preds, str) or not isinstance(preds, Sequence) or not preds:
                problems.append(f"parameter 'predictors'[{key!r}] must be a non-empty list of "
                                "construct ids")
                continue
            unknown = [p for p in preds if p not in constructs]
            if unknown:
                problems.append(f"parameter 'predictors'[{key!r}]: {unknown} have no released "
                                f"scores; released constructs: {', '.join(constructs)}")
        if isinstance(predictors, Mapping):
            stray = [k for k in predictors if k not in (*outcomes, *kpis)]
            if stray:
                problems.append(f"parameter 'predictors' names outcomes that are not analysed: "
                                f"{stray}")
    for pair in pairs:
        if not (isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2):
            problems.append(f"parameter 'cross_lagged_pairs': {pair!r} must be a (construct, "
                            "outcome) pair")
            continue
        c, o = pair
        if c not in constructs:
            problems.append(f"parameter 'cross_lagged_pairs': construct {c!r} has no released "
                            f"scores; released constructs: {', '.join(constructs)}")
        if o not in lk.COUNT_OUTCOMES:
            problems.append(f"parameter 'cross_lagged_pairs': outcome {o!r} must be one of "
                            f"{', '.join(lk.COUNT_OUTCOMES)}")
    return problems


def _predictors_for(instrument, outcome, predictors, constructs, units_with: Mapping[str, int],
                    k: int) -> tuple[tuple[str, ...], list[str]]:
    if predictors is None:
        available = [c for c in constructs if units_with.get(c, 0) >= k]
        chosen = default_predictors(instrument, outcome, available)
        missing = [c for c in default_predictors(instrument, outcome) if c not in chosen]
        notes = [f"Default predictor(s) {', '.join(missing)} left out: released for fewer than "
                 f"{k} units (a construct with sensitive items is reported only for groups at "
                 "the sensitive threshold)."] if missing else []
        return chosen, notes
    if isinstance(predictors, Mapping):
        return (tuple(predictors[outcome]) if outcome in predictors
                else default_predictors(instrument, outcome, constructs)), []
    return tuple(predictors), []


def _fit(kind: str, panel: pd.DataFrame, outcome: str, preds, lag: int, k_models: int):
    common = {"outcome": outcome, "predictors": preds, "lag": lag, "min_units": k_models,
              "comfortable_units": max(30, k_models)}
    if kind == "count":
        return lk.count_model(panel, **common)
    return lk.continuous_model(panel, **common)


def analyse_linkage(releases: Mapping[str, Release], events: pd.DataFrame,
                    exposure: pd.DataFrame, *, instrument: Instrument, thresholds: Thresholds,
                    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
                    kpis: Sequence[str] = DEFAULT_KPIS,
                    predictors: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                    cross_lagged_pairs: Sequence[tuple[str, str]] | None = None,
                    lag: int = 1, level: int | str | None = None) -> LinkageReport:
    """Culture -> quality models on released unit scores and the quality register.

    Steps: :func:`released_unit_scores` (released cells only, default the deepest
    level) -> :func:`culture.linkage.build_panel` -> per count outcome a
    :func:`culture.linkage.count_model` (NB2, log exposure offset, within/between
    terms, unit-clustered SEs; Stata ``nbreg y xw xb, exposure(e) vce(cluster unit)``),
    per CAPA KPI a :func:`culture.linkage.continuous_model` (R ``lme4::lmer(y ~ xw + xb
    + (1 | unit))``) and per (construct, outcome) pair a
    :func:`culture.linkage.cross_lagged` model.

    Parameters
    ----------
    releases : mapping of quarter to :class:`~culture.release.Release`
        The only culture input: there is deliberately no way to pass responses.
    events, exposure : the quality register and the exposure table (see
        :mod:`culture.frames`), per unit; validated by ``build_panel``.
    thresholds : :class:`~culture.release.Thresholds`
        ``thresholds.models`` is the least number of units a model needs; below it
        the model is refused with a note in ``fits`` (the report is still produced).
    outcomes : count outcomes (:data:`culture.linkage.COUNT_OUTCOMES`); customer- and
        internally detected nonconformities are separate outcomes.
    kpis : continuous CAPA KPIs (:data:`culture.linkage.CONTINUOUS_OUTCOMES`).
    predictors : None for :func:`default_predictors` per outcome, a list used for every
        outcome, or a mapping outcome -> list (outcomes not in it use the default).
    instrument : the instrument: its headline constructs and ``quality_links`` give the
        default predictors and cross-lagged pairs.
    cross_lagged_pairs : (construct, count outcome) pairs for the cross-lagged model;
        default every headline construct with released scores against every count
        outcome analysed that has events (what is left out is said in the notes).
    lag : quarters between the culture score and the outcome (>= 1).
    level : org level of the units (see :func:`released_unit_scores`).

    Returns
    -------
    LinkageReport

    Raises
    ------
    ConfigError
        Listing every problem with the specification at once.
    culture.errors.ValidationError
        If the register or exposure table is invalid (from ``build_panel``).
    """
    outcomes, kpis = tuple(outcomes), tuple(kpis)
    problems = _check_releases(releases)
    scores = released_unit_scores(releases, level=level) if not problems else None
    constructs = [c for c in scores.columns if c not in (UNIT, QUARTER)] if scores is not None \
        else []
    skipped = []
    if cross_lagged_pairs is None:  # the defaults, where there is something to model
        headline = [c.id for c in instrument.headline_constructs]
        skipped = [(c, None) for c in headline if c not in constructs]
        with_events = set(events["kind"].map({"nonconformity": "nc", "audit_finding": "audit",
                                              "complaint": "complaints", "capa": "capa"}))
        present = [o for o in outcomes if o.split("_")[0] in with_events]
        cross_lagged_pairs = [(c, o) for o in present for c in headline if c in constructs]
    pairs = tuple(tuple(p) if isinstance(p, Sequence) and not isinstance(p, str) else p
                  for p in cross_lagged_pairs)
    if scores is not None:
        problems += _spec_problems(outcomes, kpis, predictors, pairs, lag, thresholds, constructs)
    if problems:
        raise ConfigError("invalid linkage specification:\n  - " + "\n  - ".join(problems))
    k = thresholds.models
    if not constructs:  # every unit of that level withheld: nothing to link, said plainly
        reason = "no unit of the analysed level has released scores"
        fits = pd.DataFrame([(o, kind, "refused", "", np.nan, np.nan, reason) for kind, o in
                             [("count", o) for o in outcomes] + [("continuous", o) for o in kpis]],
                            columns=list(FIT_COLUMNS))
        return LinkageReport(
            models=pd.DataFrame(columns=list(MODEL_COLUMNS)),
            cross_lagged=pd.DataFrame(columns=list(CROSS_COLUMNS)), fits=fits,
            dropped=pd.DataFrame(columns=list(DROPPED_COLUMNS)),
            note_table=pd.DataFrame([("all", f"No model estimated: {reason}.")],
                                    columns=list(NOTE_COLUMNS)),
            panel=pd.DataFrame(columns=[UNIT, QUARTER]), lag=int(lag),
            notes=(NOTE_WORDING, f"No model estimated: {reason}."))
    panel = lk.build_panel(scores, events, exposure, lags=(int(lag),))

    model_rows, cross_rows, fit_rows, drop_rows, note_rows = [], [], [], [], []
    jobs = [("count", o) for o in outcomes] + [("continuous", o) for o in kpis]
    units_with = {c: int(scores.loc[scores[c].notna(), UNIT].nunique()) for c in constructs}
    for kind, outcome in jobs:
        preds, pre_notes = _predictors_for(instrument, outcome, predictors, constructs,
                                           units_with, k)
        note_rows += [(outcome, n) for n in pre_notes]
        if not preds:
            reason = f"no culture construct is released for at least {k} units"
            fit_rows.append((outcome, kind, "refused", "", np.nan, np.nan, reason))
            note_rows.append((outcome, f"Model not estimated: {reason}."))
            continue
        try:
            res = _fit(kind, panel, outcome, preds, int(lag), k)
        except (InsufficientDataError, lk.ModelFitError) as exc:
            fit_rows.append((outcome, kind, "refused", " + ".join(preds), np.nan, np.nan,
                             str(exc)))
            note_rows.append((outcome, f"Model not estimated: {exc}"))
            continue
        t = res.table.assign(outcome=outcome, model=kind, lag=res.lag, method=res.method)
        model_rows.append(t[list(MODEL_COLUMNS)])
        fit_rows.append((outcome, kind, "fitted", " + ".join(preds), res.n_obs, res.n_units, ""))
        drop_rows.append(res.dropped.assign(scope=outcome))
        note_rows += [(outcome, n) for n in res.notes if n != lk.WORDING]

    for construct, outcome in pairs:
        scope = f"{construct} x {outcome}"
        try:
            cl = lk.cross_lagged(panel, construct=construct, outcome=outcome, min_units=k,
                                 comfortable_units=max(30, k))
        except (InsufficientDataError, lk.ModelFitError) as exc:
            fit_rows.append((scope, "cross_lagged", "refused", construct, np.nan, np.nan,
                             str(exc)))
            note_rows.append((scope, f"Cross-lagged check of {construct} and {outcome} not made "
                                     f"(the main models are unaffected): {exc}"))
            continue
        cross_rows.append(cl.table.assign(construct=construct, outcome=outcome,
                                          difference=cl.difference,
                                          difference_p=cl.difference_p,
                                          dominant=cl.dominant)[list(CROSS_COLUMNS)])
        fit_rows.append((scope, "cross_lagged", "fitted", construct, cl.n_obs, cl.n_units, ""))
        drop_rows.append(cl.dropped.assign(scope=scope))
        note_rows += [(scope, n) for n in cl.notes]

    notes = [NOTE_WORDING, NOTE_WITHIN]
    if skipped:
        notes.append("Cross-lagged check(s) not made: no released unit scores of "
                     + ", ".join(sorted({c for c, _ in skipped})) + ".")
    if {"nc_internal", "nc_customer"} & set(outcomes):
        notes.insert(1, NOTE_DETECTION)
    refused = [r[0] for r in fit_rows if r[2] == "refused" and r[1] != "cross_lagged"]
    if refused:
        notes.append(f"{len(refused)} model(s) not estimated (fewer than {k} units or no "
                     f"stable fit): {', '.join(refused)}.")
    checks = [r[0] for r in fit_rows if r[2] == "refused" and r[1] == "cross_lagged"]
    if checks:
        notes.append(f"{len(checks)} cross-lagged check(s) not made (too few units or quarters); "
                     "the main models do not depend on them: " + ", ".join(checks) + ".")
    note_rows = [("all", n) for n in notes] + note_rows

    def frame(rows, cols):
        if rows and isinstance(rows[0], pd.DataFrame):
            return pd.concat(rows, ignore_index=True)[list(cols)]
        return pd.DataFrame(rows, columns=list(cols))

    return LinkageReport(
        models=frame(model_rows, MODEL_COLUMNS), cross_lagged=frame(cross_rows, CROSS_COLUMNS),
        fits=frame(fit_rows, FIT_COLUMNS), dropped=frame(drop_rows, DROPPED_COLUMNS),
        note_table=frame(note_rows, NOTE_COLUMNS), panel=panel, lag=int(lag),
        notes=tuple(notes))


def analyse_outcome(releases: Mapping[str, Release], events: pd.DataFrame,
                    exposure: pd.DataFrame, *, instrument: Instrument, outcome: str,
                    thresholds: Thresholds, lag: int = 1) -> LinkageReport:
    """The models of one outcome: a count model for a count, a mixed model for a CAPA KPI
    (:data:`~culture.stats.panel.CONTINUOUS_OUTCOMES`); what ``culture link`` shows."""
    kpi = outcome in lk.CONTINUOUS_OUTCOMES
    return analyse_linkage(releases, events, exposure, instrument=instrument,
                           thresholds=thresholds, lag=lag,
                           outcomes=() if kpi else (outcome,), kpis=(outcome,) if kpi else ())
