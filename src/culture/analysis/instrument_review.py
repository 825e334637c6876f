"""Does the instrument still measure well? Reliability, items, factor structure, invariance.

Organisation-level only, and only at or above the models threshold of respondents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from culture import measure as ps
from culture.analysis.trend_tables import (
    INVARIANCE_COLUMNS,
    TrendTable,
)
from culture.boundary.release import Thresholds
from culture.errors import (
    ConfigError,
    InsufficientDataError,
    Problem,
    PsychometricsInputError,
    TrendAnalysisError,
)
from culture.frames import wave_index
from culture.measure.instrument import Instrument
from culture.measure.scoring import FLAG_COLUMNS, score
from culture.measure.structure import metric_invariance


def instrument_review(data, instrument: Instrument, *, thresholds: Thresholds) -> tuple[dict, list[str]]:
    """Reliability, item statistics and flags, CFA fit of the instrument (organisation level)."""
    notes: list[str] = []
    responses, scored = data.responses, data.scored
    if len(responses) < thresholds.models:
        return {}, [f"instrument review needs at least {thresholds.models} respondents; "
                    f"{len(responses)} in {data.wave}"]
    tables = {"reliability": ps.instrument_reliability(responses, instrument)}
    items = ps.item_statistics(responses, instrument)
    tables["item_statistics"] = items
    tables["item_flags"] = ps.flag_items(items)
    model = {c.id: [i.id for i in instrument.items_of(c.id)] for c in instrument.constructs}
    try:
        fit = ps.cfa(scored.keyed[~scored.flags.any(axis=1)], model)
    except ps.PsychometricsInputError as exc:
        # A small organisation may have fewer complete answer sets than items: the rest of
        # the review is still useful, so the CFA is skipped with the reason, not the pack.
        notes.append(f"CFA of the instrument not fitted for {data.wave}: {exc.problems[0].message}")
        return tables, notes
    tables["cfa_fit"] = fit.fit
    tables["cfa_loadings"] = fit.loadings
    notes += list(fit.notes)
    return tables, notes


# --------------------------------------------------------------------------- invariance


def instrument_invariance(responses_by_wave: Mapping[str, pd.DataFrame], instrument: Instrument, *,
                          constructs: Sequence[str] | None = None,
                          exclude: Sequence[str] = ("straightliner", "speeder", "duplicate"),
                          min_n: int) -> TrendTable:
    """Metric invariance across waves, one single-factor model per construct.

    The reverse-keyed item answers of each construct are fitted as a one-factor CFA in
    every wave (configural) and with loadings equal across waves (metric), by ML on the
    listwise-complete answers (:func:`culture.psychometrics.metric_invariance`, as
    lavaan ``cfa(model, data, group = "wave", group.equal = "loadings")``); metric
    invariance holds when CFI drops by at most .01 (Cheung & Rensvold 2002). Fitting
    per construct keeps each model small (a few seconds for a whole instrument).

    Parameters
    ----------
    responses_by_wave : wave -> canonical responses of that wave (two or more waves).
    instrument : the instrument (items, reverse keys, constructs).
    constructs : construct ids; default the culture constructs.
    exclude : data-quality flags (:data:`culture.scoring.FLAG_COLUMNS`) whose responses are
        left out of the models; ``()`` keeps everyone.
    min_n : fewest complete answers per wave for a model: the ``models`` threshold of the
        waves' :class:`~culture.boundary.release.Thresholds` (model outputs need it).

    Returns
    -------
    :class:`TrendTable` with :data:`INVARIANCE_COLUMNS`; ``verdict`` is ``holds``,
    ``not supported`` or ``not estimated`` (too few answers or a failed fit, see notes).
    """
    problems: list[Problem] = []
    if not isinstance(responses_by_wave, Mapping) or len(responses_by_wave) < 2:
        problems.append(Problem("responses_by_wave", "must map at least two waves to their responses"))
    else:
        for w, r in responses_by_wave.items():
            missing = [i for i in instrument.item_ids if i not in getattr(r, "columns", ())]
            if missing:
                problems.append(Problem(f"responses_by_wave[{w!r}]",
                                        f"missing item column(s) {', '.join(missing[:5])}"))
    chosen = list(constructs) if constructs is not None else [c.id for c in instrument.culture_constructs]
    unknown = [c for c in chosen if c not in instrument.construct_ids]
    if unknown:
        problems.append(Problem("constructs", f"unknown construct(s) {', '.join(unknown)}; known: "
                                              f"{', '.join(instrument.construct_ids)}"))
    bad_flags = sorted(set(exclude) - set(FLAG_COLUMNS))
    if bad_flags:
        problems.append(Problem("exclude", f"unknown flag(s) {', '.join(bad_flags)}; allowed: "
                                           f"{', '.join(FLAG_COLUMNS)}"))
    if isinstance(min_n, bool) or not isinstance(min_n, int | np.integer) or min_n < Thresholds.FLOORS["models"]:
        problems.append(Problem("min_n", f"must be a whole number >= {Thresholds.FLOORS['models']}"))
    if problems:
        raise TrendAnalysisError(problems, source="instrument_invariance")

    waves = sorted(responses_by_wave, key=wave_index)
    lo, hi = instrument.scale.min, instrument.scale.max
    items = list(instrument.item_ids)
    reverse = np.array([instrument.item(i).reverse for i in items])
    frames, dropped = [], 0
    for w in waves:
        resp = responses_by_wave[w]
        if exclude:
            # careless answering (one code for everything, random clicking) distorts loadings
            flagged = score(resp, instrument).flags[list(exclude)].any(axis=1).to_numpy()
            resp, dropped = resp[~flagged], dropped + int(flagged.sum())
        raw = resp[items].to_numpy(dtype=np.float64, na_value=np.nan)
        frames.append(pd.DataFrame(np.where(reverse, lo + hi - raw, raw), columns=items).assign(wave=w))
    data = pd.concat(frames, ignore_index=True)
    rows, notes = [], ([f"{dropped} response(s) flagged {', '.join(exclude)} left out"] if exclude else [])
    label = " vs ".join(waves)
    for c in chosen:
        cols = [i.id for i in instrument.items_of(c)]
        complete = data[cols].notna().all(axis=1)
        per_wave = complete.groupby(data["wave"]).sum()
        base = {"construct": c, "waves": label, "n_obs": int(complete.sum()), "n_items": len(cols)}
        if per_wave.min() < min_n or len(cols) < 3:
            rows.append({**base, "accepted": pd.NA, "verdict": "not estimated"})
            notes.append(f"{c}: not estimated (needs >= 3 items and >= {min_n} complete answers "
                         "per wave)")
            continue
        try:
            res = metric_invariance(data[[*cols, "wave"]], {c: cols}, group="wave")
        except (PsychometricsInputError, InsufficientDataError, ConfigError) as exc:
            rows.append({**base, "accepted": pd.NA, "verdict": "not estimated"})
            notes.append(f"{c}: not estimated ({type(exc).__name__})")
            continue
        fit = res.table.set_index("model")
        rows.append({**base, "cfi_configural": fit.at["configural", "cfi"],
                     "rmsea_configural": fit.at["configural", "rmsea"],
                     "cfi_metric": fit.at["metric", "cfi"], "delta_cfi": res.delta_cfi,
                     "chisq_diff": res.chisq_diff, "df_diff": res.df_diff, "p_value": res.p_value,
                     "accepted": res.accepted,
                     "verdict": "holds" if res.accepted else "not supported"})
        notes += [f"{c}: {n}" for n in res.notes]
    table = pd.DataFrame(rows).reindex(columns=list(INVARIANCE_COLUMNS))
    return TrendTable(f"Metric invariance across {label}", table, tuple(notes))
