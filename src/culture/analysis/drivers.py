"""Key drivers of the outcome index on the respondents of one wave (organisation level).

Relative weights with bootstrap CIs and dominance analysis
(:mod:`culture.stats.drivers`), computed only at or above the models threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from culture import frames
from culture.analysis.quality import NOTE_COLUMNS
from culture.boundary.release import Thresholds
from culture.errors import ConfigError, InsufficientDataError
from culture.measure.instrument import Instrument
from culture.results import Result
from culture.stats.drivers import MAX_DOMINANCE_PREDICTORS, dominance_analysis, relative_weights

# --------------------------------------------------------------------------------------
# Key drivers (respondent level)
# --------------------------------------------------------------------------------------

DRIVER_COLUMNS = ("construct", "raw_weight", "ci_low", "ci_high", "rescaled_pct",
                  "rescaled_ci_low", "rescaled_ci_high", "sign", "rank", "general_dominance",
                  "dominance_share", "dominance_rank", "completely_dominates")


@dataclass(frozen=True)
class DriverReport(Result):
    """Key drivers of an outcome index among the culture constructs.

    ``table`` (one row per construct, ordered by ``rank``): ``construct``,
    ``raw_weight`` (Johnson's relative weight: share of outcome variance; sums to
    R^2), ``ci_low``/``ci_high`` (bootstrap percentile CI of the raw weight),
    ``rescaled_pct`` (% of R^2) with ``rescaled_ci_low``/``rescaled_ci_high``,
    ``sign``, ``rank`` (1 = largest relative weight), ``general_dominance`` (average
    R^2 increment), ``dominance_share`` (share of R^2), ``dominance_rank``,
    ``completely_dominates`` (constructs this one completely dominates, ``; ``-separated).
    Empty (same columns) when ``status == "refused"``.
    """

    outcome: str
    status: str
    table: pd.DataFrame
    r_squared: float
    n: int
    notes: tuple[str, ...] = ()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"drivers": self.table.copy(),
                "notes": pd.DataFrame({"scope": "drivers", "note": list(self.notes)},
                                      columns=list(NOTE_COLUMNS))}

    def summary(self) -> str:
        if self.status == "refused":
            return "\n".join([f"Key drivers of {self.outcome}: not estimated."]
                             + [f"Note: {n}" for n in self.notes])
        lines = [f"Key drivers of {self.outcome} (respondent level, R^2 = {self.r_squared:.2f}):"]
        lines += [f"{r.rank}. {r.construct}: {r.rescaled_pct:.0f}% of the explained variance "
                  f"(95% CI {r.rescaled_ci_low:.0f} to {r.rescaled_ci_high:.0f}%); dominance "
                  f"rank {r.dominance_rank}" for r in self.table.itertuples(index=False)]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'key drivers of the outcome index: Johnson relative weights with bootstrap CIs, dominance analysis',
                "reference": 'R rwa::rwa, domir::domin'}




def _driver_problems(responses, scored, instrument, outcome, predictors, thresholds,
                     n_boot) -> list[str]:
    problems = []
    if not isinstance(instrument, Instrument):
        return [f"parameter 'instrument' must be an Instrument, given {type(instrument).__name__}"]
    if not isinstance(thresholds, Thresholds):
        problems.append(f"parameter 'thresholds' must be a Thresholds object, given "
                        f"{type(thresholds).__name__}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        problems.append(f"parameter 'n_boot' must be a whole number >= 0; given {n_boot!r}")
    scores = getattr(scored, "scores", None)
    if not isinstance(responses, pd.DataFrame):
        problems.append("parameter 'responses' must be the canonical responses DataFrame")
    if not isinstance(scores, pd.DataFrame):
        problems.append("parameter 'scored' must be the result of culture.scoring.score")
    elif isinstance(responses, pd.DataFrame) and not scores.index.equals(responses.index):
        problems.append("parameters 'responses' and 'scored' must be aligned (scored = "
                        "score(responses, instrument))")
    ids = set(instrument.construct_ids)
    if outcome not in ids:
        problems.append(f"parameter 'outcome' = {outcome!r} is not a construct of instrument "
                        f"{instrument.id}; constructs: {', '.join(instrument.construct_ids)}")
    bad = [p for p in predictors if p not in ids or p == outcome]
    if bad:
        problems.append(f"parameter 'predictors': {bad} are not constructs of the instrument "
                        "(or are the outcome itself)")
    return problems


def _per_respondent(responses: pd.DataFrame, scored, cols: list[str]) -> tuple[pd.DataFrame, int]:
    """One row per respondent: the mean of their scores over the rows (waves) given.

    Earlier duplicate submissions (scoring keeps the last) and excluded responses are
    left out; a row without a respondent id counts as its own respondent.
    """
    keep = ~scored.flags["duplicate"].to_numpy(dtype=bool) & ~scored.excluded.to_numpy(dtype=bool)
    values = scored.scores.loc[keep, cols]
    if frames.RESPONDENT in responses.columns:
        who = responses.loc[keep, frames.RESPONDENT].astype("string")
    else:
        who = pd.Series(pd.NA, index=values.index, dtype="string")
    # missing ids become unique row keys, so an anonymous response is one respondent
    who = who.fillna(pd.Series("\x00row" + pd.Series(np.arange(len(who)), index=who.index)
                               .astype("string"), index=who.index))
    per = values.groupby(who.to_numpy(), sort=True).mean()
    return per.reset_index(drop=True), int((~keep).sum())


def analyse_drivers(responses: pd.DataFrame, scored, *, instrument: Instrument,
                    outcome: str | None = None, thresholds: Thresholds,
                    predictors: Sequence[str] | None = None, n_boot: int = 1000,
                    seed: int | None = None, conf: float = 0.95) -> DriverReport:
    """Relative weights and dominance of the culture constructs on an outcome index.

    Respondent level for the whole organisation: each respondent counts once (the
    mean of their scores over the waves in ``responses``, so people surveyed in
    several waves are not counted several times and the bootstrap resamples people).
    Johnson's (2000) relative weights with bootstrap percentile CIs (R ``rwa::rwa``;
    Tonidandel, LeBreton & Johnson 2009) and general/complete dominance (Budescu
    1993; Azen & Budescu 2003; R ``domir::domin``), from :mod:`culture.drivers`.

    Parameters
    ----------
    responses : canonical responses (one or more waves), used for ``respondent`` only.
    scored : ``culture.scoring.score(responses, instrument)``.
    instrument : the instrument (constructs and their kinds).
    outcome : the outcome index (a construct id); default the instrument's outcome index
        (its construct of kind ``outcome``). Without one the analysis is not made
        (``status = "not applicable"``).
    thresholds : ``thresholds.models`` is the least number of respondents with
        complete scores; below it the analysis is refused (``status = "refused"``).
    predictors : construct ids; default every culture construct of the instrument.
    n_boot, seed, conf : bootstrap samples, generator seed, confidence level.

    Returns
    -------
    DriverReport

    Raises
    ------
    ConfigError
        Listing every problem with the parameters at once.
    """
    preds = tuple(predictors) if predictors is not None else \
        tuple(c.id for c in getattr(instrument, "culture_constructs", ()))
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in DRIVER_COLUMNS})
    if outcome is None:
        index = getattr(instrument, "outcome_index", None)
        if index is None:
            return DriverReport(outcome="", status="not applicable", table=empty, r_squared=np.nan,
                                n=0, notes=("The instrument has no outcome index (a construct of "
                                            "kind outcome): there is nothing for key drivers to "
                                            "explain.",))
        outcome = index.id
    problems = _driver_problems(responses, scored, instrument, outcome, preds, thresholds, n_boot)
    if problems:
        raise ConfigError("invalid driver analysis:\n  - " + "\n  - ".join(problems))
    per, left_out = _per_respondent(responses, scored, [*preds, outcome])
    notes = []
    if left_out:
        notes.append(f"{left_out} response(s) left out: earlier duplicate submissions or "
                     "responses excluded at scoring.")
    X, y = per[list(preds)], per[outcome]
    try:
        rw = relative_weights(X, y, n_boot=int(n_boot), seed=seed, conf=conf,
                              min_n=thresholds.models)
    except InsufficientDataError:
        notes.append(f"Not estimated: fewer than {thresholds.models} respondents with complete "
                     "scores (confidentiality threshold for model outputs).")
        return DriverReport(outcome=outcome, status="refused", table=empty, r_squared=np.nan,
                            n=0, notes=tuple(notes))
    t = rw.table.rename(columns={"predictor": "construct"})
    if len(preds) <= MAX_DOMINANCE_PREDICTORS:
        da = dominance_analysis(X, y, min_n=thresholds.models)
        d = da.table.rename(columns={"predictor": "construct", "standardized": "dominance_share",
                                     "rank": "dominance_rank"})
        wins = da.designations[da.designations["complete"].eq(True).fillna(False)]
        beats = wins.groupby("predictor")["other"].agg(lambda s: "; ".join(sorted(s)))
        d["completely_dominates"] = d["construct"].map(beats).fillna("").astype(str)
        t = t.merge(d, on="construct", how="left")
    else:
        t = t.assign(general_dominance=np.nan, dominance_share=np.nan,
                     dominance_rank=pd.NA, completely_dominates="")
        notes.append(f"Dominance analysis skipped: more than {MAX_DOMINANCE_PREDICTORS} "
                     "predictors.")
    notes += list(rw.notes)
    notes += ["Each respondent counts once (mean over the waves analysed).",
              "Weights describe how outcome differences between people go together with "
              "construct differences; they are associations, not evidence that changing a "
              "construct would change the outcome."]
    table = t[list(DRIVER_COLUMNS)].sort_values("rank", kind="stable", ignore_index=True)
    return DriverReport(outcome=outcome, status="fitted", table=table, r_squared=rw.r_squared,
                        n=rw.n, notes=tuple(notes))
