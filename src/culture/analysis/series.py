"""Released means across waves: control charts and the multi-wave trend.

Both work on released unit means only (a withheld cell is a gap in a series,
never a value), so they need no respondent-level data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from culture.analysis.trend_tables import (
    CHART_COLUMNS,
    TrendTable,
    check_releases,
    org_tree,
)
from culture.boundary.release import RELEASED, Release
from culture.errors import (
    InsufficientDataError,
    Problem,
    TrendAnalysisError,
)
from culture.frames import PARENT, UNIT, wave_index
from culture.stats import (
    individuals_chart,
    mixed_trend,
)

# --------------------------------------------------------------------------- across waves


def _released_means(releases: Mapping[str, Release]) -> pd.DataFrame:
    """Long table of every scores cell of every release, with the unit's subtree signature."""
    parts = []
    for wave, rel in releases.items():
        units = rel.table("units")
        tree = org_tree(units[[UNIT, PARENT, "name"]])
        s = rel.table("scores")[["unit_id", "measure", "mean", "se", "status"]]
        s = s.assign(wave=wave, t=wave_index(wave),
                     unit=tree.names.reindex(s["unit_id"]).to_numpy(),
                     depth=tree.depth.reindex(s["unit_id"]).to_numpy(),
                     signature=tree.signature.reindex(s["unit_id"]).to_numpy(),
                     root=s["unit_id"].to_numpy() == tree.root)
        parts.append(s)
    long = pd.concat(parts, ignore_index=True).sort_values(["t", "unit_id", "measure"])
    # A unit is one series while its subtree stays the same; the root is always one series.
    long["segment"] = np.where(long["root"], "",
                               long["signature"].ne(long.groupby("unit_id")["signature"].shift())
                               .groupby(long["unit_id"]).cumsum().astype(str))
    return long.reset_index(drop=True)



def control_charts(releases: Mapping[str, Release], *, baseline_waves: int = 4) -> TrendTable:
    """Individuals (XmR) chart of every released unit x measure mean across waves.

    Each series is the released means of one unit x measure in wave order; waves where
    the cell is suppressed are left out (listed in ``notes``), so runs join the
    neighbouring released waves. Limits come from the first ``baseline_waves`` released
    points: centre = their mean, sigma = mean moving range / 1.128, limits centre +/- 3
    sigma; Western Electric rules 1-4 (:func:`culture.trends.individuals_chart`, as R
    ``qcc(x, type = "xbar.one")``). Series with fewer than ``baseline_waves + 1``
    released points are skipped. A unit whose subtree changes starts a new series; only
    the current series (its latest subtree) is charted.

    Returns
    -------
    :class:`TrendTable` with :data:`CHART_COLUMNS` (``baseline`` marks the limit-setting
    points; ``signals`` lists the broken rules, e.g. ``"1,4"``).
    """
    problems: list[Problem] = []
    check_releases(releases, problems)
    if isinstance(baseline_waves, bool) or not isinstance(baseline_waves, int | np.integer) \
            or baseline_waves < 2:
        problems.append(Problem("baseline_waves", "must be a whole number >= 2 (a moving range "
                                                  "needs two points)"))
    if problems:
        raise TrendAnalysisError(problems, source="control_charts")
    long = _released_means(releases)
    current = long.groupby("unit_id")["segment"].transform("last")
    long = long[long["segment"] == current]
    shown = long["status"] == RELEASED
    parts, charted, skipped, flat, no_se = [], [], 0, 0, 0
    for (unit, measure), s in long[shown].groupby(["unit_id", "measure"], sort=True):
        if len(s) < baseline_waves + 1:
            skipped += 1
            continue
        series = pd.Series(s["mean"].to_numpy(np.float64), index=s["wave"].to_numpy())
        # Floor sigma at the typical standard error of the released means (where the release
        # shows it): a unit mean moves by about that much from sampling alone.
        se = s["se"].to_numpy(np.float64)
        if not np.isfinite(se).any():
            # No released standard error (fewer than the distribution threshold): four
            # waves of a small team's mean cannot separate a signal from sampling noise.
            no_se += 1
            continue
        floor = float(np.nanmedian(se))
        try:
            chart = individuals_chart(series, baseline=int(baseline_waves), sigma_floor=floor)
        except InsufficientDataError:
            flat += 1
            continue
        charted.append((unit, measure))
        parts.append(chart.reset_index(names="wave").assign(unit_id=unit, unit=s["unit"].iloc[-1],
                                                            measure=measure))
    table = (pd.concat(parts, ignore_index=True)[list(CHART_COLUMNS)] if parts
             else pd.DataFrame(columns=list(CHART_COLUMNS)))
    # one note per unit: the waves left out of any of its charted series
    hidden = long[~shown].set_index(["unit_id", "measure"])
    hidden = hidden[hidden.index.isin(charted)].reset_index()
    left_out = hidden.drop_duplicates(["unit_id", "wave"]).groupby("unit_id", sort=True)["wave"]
    notes = [f"{unit}: suppressed in {', '.join(w)}; left out of its charts"
             for unit, w in left_out.agg(list).items()]
    notes.append(f"{skipped} series with fewer than {baseline_waves + 1} released waves skipped")
    if flat:
        notes.append(f"{flat} series without variation in the baseline skipped (no limits)")
    if no_se:
        notes.append(f"{no_se} series of units too small to show a standard error not charted")
    return TrendTable(f"Control charts ({baseline_waves} baseline waves)", table, tuple(notes))


def multiwave_trend(releases: Mapping[str, Release], *, measure: str,
                    level: int | None = None) -> TrendTable:
    """Linear trend per quarter over the released unit means of every wave.

    Fits ``mean ~ quarter + (quarter | unit)`` by REML
    (:func:`culture.trends.mixed_trend`, as lme4 ``lmer(mean ~ quarter + (quarter | unit))``)
    on the released means only; ``quarter`` counts quarters (``2026Q1`` -> ``2026Q2`` = 1),
    so the slope is per quarter. A unit whose subtree changed is a new unit from then on.

    Parameters
    ----------
    releases : wave -> Release.
    measure : construct id (or the outcome index).
    level : depth in the org tree (0 = the organisation, 1 = its children, ...); ``None``
        uses every released unit. Nested units share respondents, so a single level
        gives the cleaner estimate.

    Returns
    -------
    :class:`TrendTable` with one row of :data:`TREND_COLUMNS`; ``details["model"]`` is
    the :class:`~culture.trends.MixedTrend`.
    """
    problems: list[Problem] = []
    check_releases(releases, problems)
    if level is not None and (isinstance(level, bool) or not isinstance(level, int | np.integer)
                              or level < 0):
        problems.append(Problem("level", "must be None or a tree depth >= 0"))
    if problems:
        raise TrendAnalysisError(problems, source="multiwave_trend")
    long = _released_means(releases)
    if measure not in set(long["measure"]):
        raise TrendAnalysisError([Problem("measure", f"{measure!r} is not a measure of the releases; "
                                          f"known: {', '.join(pd.unique(long['measure']))}")],
                                 source="multiwave_trend")
    data = long[(long["measure"] == measure) & (long["status"] == RELEASED)]
    if level is not None:
        data = data[data["depth"] == level]
    data = data.assign(quarter=(data["t"] - long["t"].min()).astype(np.float64),
                       series=data["unit_id"] + "#" + data["segment"])
    fit = mixed_trend(data, value="mean", time="quarter", group="series")
    row = fit.table.set_index("term").loc["time"]
    table = pd.DataFrame([{"measure": measure, "level": "all" if level is None else int(level),
                           "slope": row["estimate"], "se": row["se"], "ci_low": row["ci_low"],
                           "ci_high": row["ci_high"], "p": row["p"], "n_units": fit.n_groups,
                           "n_obs": fit.n_obs, "converged": fit.converged}])
    notes = list(fit.notes)
    if level is None:
        notes.append("all levels pooled: nested units share respondents")
    return TrendTable(f"Trend of {measure} per quarter", table, tuple(notes), {"model": fit})
