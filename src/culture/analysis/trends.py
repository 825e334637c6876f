"""Change over time on real waves, inside the confidentiality boundary.

:mod:`culture.trends` holds the statistics on plain arrays; this module wires them
to waves: respondent-level scores for the exact statistics, the waves'
:class:`~culture.release.Release` for *what may be shown*. A unit x measure
appears in an output only when its cell is released; a test statistic (t, p,
CI, Hedges' g) that would reveal a standard deviation is only given where the
release shows that SD (the ``distributions`` threshold of docs/confidentiality.md), otherwise
the row carries the released means and verdict ``"not tested"``.

Functions
---------
match_units            how each unit of one wave is compared with the previous wave
overlap_change         t test of two waves in which some people answered both (Derrick et al.)
wave_changes           change vs the previous wave per unit x measure, BH across the wave
control_charts         Shewhart individuals charts of released means across waves
multiwave_trend        mixed-model trend per quarter over released unit means
perception_gaps        leader minus staff per unit x construct (and per item, whole org)
instrument_invariance  metric invariance of the culture constructs across waves
analyse_trends         all of the above for the latest wave -> :class:`TrendReport`

Re-organisations. A unit is identified by its *subtree* (the set of unit ids under
it). If a unit's subtree is the same in both waves it is compared with itself
(rule ``"same unit"``, or ``"renamed: history kept"`` when only its name changed);
if it changed (a team moved in or out, a unit added or removed) the unit is
compared at its nearest ancestor whose subtree did not change (rule
``"re-organised: compared at <name>"``, column ``compared_unit_id``). The root is
the whole organisation and is always compared with itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from culture.analysis.gaps import perception_gaps
from culture.analysis.instrument_review import instrument_invariance
from culture.analysis.series import control_charts, multiwave_trend
from culture.analysis.trend_tables import (
    CHANGE_COLUMNS,
    GAP_COLUMNS,
    INVARIANCE_COLUMNS,
    RULE_RENAMED,
    RULE_REORG,
    RULE_SAME,
    TREND_COLUMNS,
    OrgTree,
    TrendReport,
    TrendTable,
    check_options,
    measure_stats,
    org_of,
    org_tree,
)
from culture.boundary.aggregate import (
    ALL,
    construct_favourable,
)
from culture.boundary.release import RELEASED, Release, Thresholds
from culture.errors import (
    InsufficientDataError,
    Problem,
    ProblemsError,
    TrendAnalysisError,
)
from culture.frames import RESPONDENT, UNIT, wave_index
from culture.measure.instrument import Instrument
from culture.stats import (
    benjamini_hochberg,
    classify_change,
    newcombe_diff,
    overlap_change,
    paired_change,
    welch_change,
)


def match_units(org_now: pd.DataFrame, org_before: pd.DataFrame) -> pd.DataFrame:
    """How each unit of the later wave is compared with the earlier wave.

    Parameters
    ----------
    org_now, org_before : org charts (``unit_id``, ``parent_id``, ``name``) of the two waves.

    Returns
    -------
    DataFrame, one row per unit of ``org_now``: ``unit_id``, ``unit`` (current name),
    ``in_before`` (the id exists in the earlier chart), ``compared_unit_id`` (the unit
    whose subtree is compared; itself unless re-organised; missing when no ancestor
    kept its subtree) and ``rule`` (see the module doc).
    """
    now, before = org_tree(org_now), org_tree(org_before)
    units = now.signature.index
    same = now.signature.eq(before.signature.reindex(units)).to_numpy(dtype=bool, copy=True)
    same |= units == now.root  # the whole organisation is always itself
    in_before = units.isin(before.signature.index)
    renamed = same & in_before & (now.names.reindex(units).to_numpy()
                                  != before.names.reindex(units).to_numpy())
    # nearest proper ancestor whose subtree is unchanged: smallest closure depth
    cl = now.closure[now.closure["depth"] > 0]
    cl = cl[cl["ancestor"].isin(units[same])]
    nearest = cl.sort_values("depth").drop_duplicates("descendant").set_index("descendant")["ancestor"]
    compared = pd.Series(np.where(same, units, nearest.reindex(units).to_numpy()), index=units)
    rule = np.where(renamed, RULE_RENAMED, RULE_SAME).astype(object)
    moved = ~same & compared.notna().to_numpy()
    rule[moved] = [RULE_REORG.format(n) for n in now.names.reindex(compared[moved]).to_numpy()]
    rule[~same & ~moved] = "re-organised: no comparable unit"
    return pd.DataFrame({"unit_id": units.to_numpy(dtype=object),
                         "unit": now.names.reindex(units).to_numpy(dtype=object),
                         "in_before": in_before, "compared_unit_id": compared.to_numpy(dtype=object),
                         "rule": rule})


# --------------------------------------------------------------------------- inputs


def _check_wave_tuple(value: Any, name: str, releases: Any, orgs: Any,
                      problems: list[Problem]) -> None:
    if not (isinstance(value, tuple | list) and len(value) == 3):
        problems.append(Problem(name, "must be a tuple (wave, responses, scored)"))
        return
    wave, responses, scored = value
    if not isinstance(wave, str):
        problems.append(Problem(f"{name}[0]", "the wave must be a string like '2026Q3'"))
        return
    try:
        wave_index(wave)
    except ValueError:
        problems.append(Problem(f"{name}[0]", "the wave must look like YYYYQn, e.g. 2026Q3"))
    if not isinstance(responses, pd.DataFrame) or UNIT not in responses.columns:
        problems.append(Problem(f"{name}[1]", "responses must be a DataFrame with a 'unit_id' column"))
    elif not hasattr(scored, "scores") or len(scored.scores) != len(responses):
        problems.append(Problem(f"{name}[2]", "must be the ScoredWave of these responses "
                                              "(culture.scoring.score), aligned row for row"))
    if isinstance(releases, Mapping) and wave not in releases:
        problems.append(Problem("releases", f"no release for wave {wave}"))
    elif isinstance(releases, Mapping) and getattr(releases[wave], "wave", None) != wave:
        problems.append(Problem(f"releases[{wave!r}]", f"must be the Release of wave {wave}"))
    if isinstance(orgs, Mapping) and wave not in orgs:
        problems.append(Problem("orgs", f"no org chart for wave {wave}"))



def _construct_stats(responses, scored, org, instrument: Instrument) -> pd.DataFrame:
    measures = list(instrument.construct_ids)
    kinds = {c.id: ("outcome" if c.kind == "outcome" else "construct") for c in instrument.constructs}
    fav = construct_favourable(scored.favourable, scored.scores, instrument)
    out = measure_stats(responses, scored.scores[measures], org, favourable=fav, kind=kinds)
    out = out[out["demographic"] == ALL]
    return out.set_index(["unit_id", "measure"])[["kind", "n", "mean", "sd", "pct_favourable"]]


def _check_release(stats: pd.DataFrame, shown: pd.DataFrame, wave: str, table: str) -> list[Problem]:
    """Released n and mean must be the ones these responses give (else wrong inputs)."""
    both = shown[shown["status"] == RELEASED].join(stats[["n", "mean"]].add_suffix("_data"), how="left")
    bad = ~(both["n"].astype(np.float64).to_numpy() == both["n_data"].to_numpy(np.float64))
    bad |= ~np.isclose(both["mean"].to_numpy(np.float64), both["mean_data"].to_numpy(np.float64),
                       rtol=0, atol=1e-9)
    if not bad.any():
        return []
    cells = both.index[bad][:5]
    where = ", ".join("/".join(map(str, c)) for c in cells)
    return [Problem(f"releases[{wave!r}].{table}",
                    f"{int(bad.sum())} released cell(s) do not match the responses given for this "
                    f"wave (e.g. {where}); pass the responses the release was built from")]


def _score_cells(release: Release) -> pd.DataFrame:
    s = release.table("scores")
    return s.set_index(["unit_id", "measure"])[["status", "n", "mean", "sd", "pct_favourable"]]


# --------------------------------------------------------------------------- overlapping waves


# --------------------------------------------------------------------------- wave changes


def _person_scores(responses: pd.DataFrame, scored, measures: list[str],
                   tree: OrgTree) -> pd.DataFrame | None:
    """One row per pseudonym: unit (unknown units -> root) and mean score per measure."""
    if RESPONDENT not in responses.columns or responses[RESPONDENT].isna().all():
        return None
    frame = scored.scores[measures].copy()
    frame[RESPONDENT] = responses[RESPONDENT].to_numpy()
    frame[UNIT] = responses[UNIT].astype("string").to_numpy(dtype=object)
    frame = frame.dropna(subset=[RESPONDENT])
    # a repeated submission counts once (mean of the person's rows), as in aggregation
    people = frame.groupby(RESPONDENT, sort=False).agg({UNIT: "first", **dict.fromkeys(measures, "mean")})
    people[UNIT] = people[UNIT].where(people[UNIT].isin(tree.depth.index), tree.root)
    return people


def _pearson(x: pd.Series, y: pd.Series, group: np.ndarray) -> pd.Series:
    """Pearson r of x and y within each group (complete pairs), from grouped sums."""
    ok = (x.notna() & y.notna()).to_numpy()
    xv, yv = x.to_numpy()[ok], y.to_numpy()[ok]
    sums = pd.DataFrame({"n": 1.0, "x": xv, "y": yv, "xx": xv * xv, "yy": yv * yv, "xy": xv * yv}
                        ).groupby(group[ok]).sum()
    n = sums["n"]
    sxy = sums["xy"] - sums["x"] * sums["y"] / n
    sxx, syy = sums["xx"] - sums["x"] ** 2 / n, sums["yy"] - sums["y"] ** 2 / n
    # no variation on one side: no correlation to use (as Partover.test, r = 0)
    varied = (sxx > 1e-12) & (syy > 1e-12)
    return (sxy / np.sqrt((sxx * syy).where(varied, 1.0))).where(varied, 0.0)


def _paired(now: tuple, before: tuple, trees: tuple[OrgTree, OrgTree], measures: list[str],
            units: pd.Index, min_paired: int) -> tuple[pd.DataFrame, list[str]]:
    """Paired t on people linked by pseudonym who are in a compared unit's subtree in both waves."""
    empty = pd.DataFrame(columns=["unit_id", "measure", "paired_n", "paired_diff", "paired_p",
                                  "paired_r"])
    t1, t0 = trees
    p1 = _person_scores(now[1], now[2], measures, t1)
    p0 = _person_scores(before[1], before[2], measures, t0)
    if p1 is None or p0 is None:
        return empty, ["no pseudonymous ids: paired comparisons not made"]
    linked = p1.index.intersection(p0.index)
    pairs = pd.DataFrame({RESPONDENT: linked, "u1": p1.loc[linked, UNIT].to_numpy(),
                          "u0": p0.loc[linked, UNIT].to_numpy()})
    c1 = t1.closure.rename(columns={"descendant": "u1"})[["ancestor", "u1"]]
    c0 = t0.closure.rename(columns={"descendant": "u0"})[["ancestor", "u0"]]
    x = pairs.merge(c1, on="u1").merge(c0, on=["ancestor", "u0"])  # in the subtree in both waves
    x = x[x["ancestor"].isin(units)]
    x["level"] = t1.depth.reindex(x["ancestor"]).to_numpy()
    parts = []
    # One person has one ancestor per tree level, so within a level (person, measure) is a
    # unique key and one paired_change call covers every unit and measure of that level.
    for _, grp in x.groupby("level", sort=True):
        keys = pd.MultiIndex.from_product([grp[RESPONDENT].to_numpy(), measures])
        first = pd.Series(p1.loc[grp[RESPONDENT], measures].to_numpy().ravel(), index=keys)
        second = pd.Series(p0.loc[grp[RESPONDENT], measures].to_numpy().ravel(), index=keys)
        cells = pd.MultiIndex.from_product([grp["ancestor"].to_numpy(), measures])
        code, labels = pd.factorize(cells)
        res = paired_change(first, second, by=pd.Series(code, index=keys))
        unit_measure = labels[res.index.to_numpy()]
        parts.append(pd.DataFrame({"unit_id": unit_measure.get_level_values(0),
                                   "measure": unit_measure.get_level_values(1),
                                   "paired_n": res["n_pairs"].to_numpy(np.float64),
                                   "paired_diff": res["diff"].to_numpy(),
                                   "paired_p": res["p"].to_numpy(),
                                   "paired_r": _pearson(first, second, code).reindex(res.index)
                                   .to_numpy()}))
    if not parts:
        return empty, []
    out = pd.concat(parts, ignore_index=True)
    out = out[out["paired_n"] >= min_paired]
    return out, []


def wave_changes(now: tuple, before: tuple, *, instrument: Instrument,
                 releases: Mapping[str, Release], orgs: Mapping[str, pd.DataFrame],
                 min_change: float = 0.2, alpha: float = 0.05, min_paired: int = 20) -> TrendTable:
    """Change of every released unit x measure between two waves.

    For each unit x construct (outcome index included) released in both waves:
    subtree ``n``, mean and SD of each wave from the respondent-level scores;
    ``diff = mean_now - mean_before`` with its t test and CI: Welch's
    (:func:`culture.trends.welch_change`; R ``t.test(now, before)``), or, where at least
    ``min_paired`` people answered in the subtree in both waves, the partially overlapping
    samples t test that also uses the correlation of their answers
    (:func:`overlap_change`; R ``Partiallyoverlapping::Partover.test``); Hedges' g of the
    two waves as independent groups (:func:`culture.trends.welch_change`);
    favourability change with Newcombe's hybrid score CI
    (:func:`culture.trends.newcombe_diff`; R ``DescTools::BinomDiffCI(..., method="score")``);
    Benjamini-Hochberg across every Welch comparison of the wave (R
    ``p.adjust(p, "BH")``) gives ``q``; ``verdict = classify_change(diff, q)``.

    Favourability counts. A construct's favourability is each respondent's share of
    favourable items averaged over the cell, so the count fed to Newcombe's interval is
    ``x = round(pct_favourable / 100 * n)`` "respondent equivalents" out of ``n``
    respondents. Treating people, not item answers, as the trials is the conservative
    choice: answers of one person are correlated, so counting item answers would
    overstate the information. ``fav_*`` columns are in percentage points.

    Paired change. Where pseudonyms link at least ``min_paired`` people who are in the
    compared subtree in both waves, the paired t on them is added (``paired_n``,
    ``paired_diff``, ``paired_p``; R ``t.test(now, before, paired = TRUE)``). It describes
    the people who stayed; the verdict is about everyone who answered (``diff``, ``q``).
    Paired and overlap statistics are used only where the people who joined or left the
    subtree number 0 or at least k: otherwise the two waves' totals and the paired total
    would give the joiners' scores by subtraction.

    Confidentiality. A unit x measure appears only when its cell, and the cell of the
    unit it is compared at, are released in both waves (a unit new in the later wave:
    in that wave). ``t, df, p, q, ci_*, hedges_g, g_*`` reveal the SDs, so they are
    given only where both releases show the SD (the ``distributions`` threshold); other
    rows have the released means and verdict ``"not tested"``.

    Parameters
    ----------
    now, before : ``(wave, responses, scored)`` of the later and the earlier wave:
        canonical responses of the wave and their :class:`~culture.scoring.ScoredWave`.
    instrument : the instrument both waves were scored with.
    releases : wave -> :class:`~culture.release.Release` built from those responses.
    orgs : wave -> org chart (``unit_id``, ``parent_id``, ``name``, ``level``).
    min_change : smallest change (scale points) called meaningful.
    alpha : FDR level.
    min_paired : fewest linked people for a paired comparison; at least the
        ``distributions`` threshold of both releases (the paired p reveals an SD).

    Returns
    -------
    :class:`TrendTable` with :data:`CHANGE_COLUMNS`, one row per unit x measure. A
    re-organised unit's row carries the statistics of ``compared_unit_id``; each
    distinct comparison counts once in the BH adjustment.
    """
    problems: list[Problem] = []
    _check_wave_tuple(now, "now", releases, orgs, problems)
    _check_wave_tuple(before, "before", releases, orgs, problems)
    if not isinstance(instrument, Instrument):
        problems.append(Problem("instrument", "must be an Instrument (culture.instruments)"))
    inputs_ok = not problems
    check_options(problems, min_change=min_change, alpha=alpha)
    floor = (max(releases[w].thresholds.distributions for w in (now[0], before[0])) if inputs_ok
             else Thresholds().distributions)
    if isinstance(min_paired, bool) or not isinstance(min_paired, int | np.integer) or min_paired < floor:
        problems.append(Problem("min_paired", f"must be a whole number >= {floor} (the "
                                              "releases' distribution threshold)"))
    if inputs_ok:
        if wave_index(now[0]) <= wave_index(before[0]):
            problems.append(Problem("now, before", f"the later wave must come first; got {now[0]} "
                                                   f"and {before[0]}"))
        for w in (now[0], before[0]):
            if releases[w].instrument_id != instrument.id:
                problems.append(Problem(f"releases[{w!r}]", f"was built with instrument "
                                        f"{releases[w].instrument_id!r}, not {instrument.id!r}"))
    if problems:
        raise TrendAnalysisError(problems, source="wave_changes")

    w1, w0 = now[0], before[0]
    org1, org0 = org_of(orgs[w1], w1), org_of(orgs[w0], w0)
    trees = (org_tree(org1), org_tree(org0))
    measures = list(instrument.construct_ids)
    stats1 = _construct_stats(now[1], now[2], org1, instrument)
    stats0 = _construct_stats(before[1], before[2], org0, instrument)
    cells1, cells0 = _score_cells(releases[w1]), _score_cells(releases[w0])
    problems = _check_release(stats1, cells1, w1, "scores") + _check_release(stats0, cells0, w0, "scores")
    if problems:
        raise TrendAnalysisError(problems, source="wave_changes")

    match = match_units(org1, org0)
    rows = match.merge(pd.DataFrame({"measure": measures}), how="cross")
    shown1 = (cells1["status"] == RELEASED).rename("shown")
    shown0 = (cells0["status"] == RELEASED).rename("shown")

    def shown(frame: pd.Series, unit_col: str) -> np.ndarray:
        key = pd.MultiIndex.from_arrays([rows[unit_col], rows["measure"]])
        return frame.reindex(key).fillna(False).to_numpy(dtype=bool)

    keep = (shown(shown1, "unit_id") & (shown(shown0, "unit_id") | ~rows["in_before"].to_numpy())
            & shown(shown1, "compared_unit_id") & shown(shown0, "compared_unit_id"))
    n_hidden = int((~keep).sum())
    rows = rows[keep].reset_index(drop=True)

    comp = rows[["compared_unit_id", "measure"]].drop_duplicates().reset_index(drop=True)
    key = pd.MultiIndex.from_frame(comp)
    s1, s0 = stats1.reindex(key), stats0.reindex(key)
    sd_ok = (cells1["sd"].reindex(key).notna() & cells0["sd"].reindex(key).notna()).to_numpy()
    n1, n0 = s1["n"].to_numpy(np.float64), s0["n"].to_numpy(np.float64)
    paired, notes = _paired(now, before, trees, measures, pd.Index(comp["compared_unit_id"].unique()),
                            int(min_paired))
    comp = comp.merge(paired.rename(columns={"unit_id": "compared_unit_id"}),
                      on=["compared_unit_id", "measure"], how="left")
    # Paired quantities combine the two waves: n_now x mean_now - n_before x mean_before -
    # paired_n x paired_diff is the total of the people who joined minus those who left.
    # They are used only where that group is empty or at least k people.
    k = releases[w1].thresholds.complements
    movers = (n1 - comp["paired_n"].to_numpy()) + (n0 - comp["paired_n"].to_numpy())
    unsafe = (movers > 0) & (movers < k)
    comp.loc[unsafe, ["paired_n", "paired_diff", "paired_p", "paired_r"]] = np.nan
    notes.append(f"{int(unsafe.sum())} comparison(s) treat the waves as independent samples: "
                 f"fewer than {k} people joined or left, so combining the waves would expose them")
    sd1, sd0 = np.where(sd_ok, s1["sd"], np.nan), np.where(sd_ok, s0["sd"], np.nan)
    m1, m0 = s1["mean"].to_numpy(), s0["mean"].to_numpy()
    # People answering both waves make the waves correlated: the partially overlapping
    # test uses that (more power, same estimate); without enough linked people it is Welch.
    linked = comp["paired_n"].fillna(0).to_numpy()
    test = overlap_change(m1, sd1, n1, m0, sd0, n0, linked, comp["paired_r"].fillna(0).to_numpy())
    g = welch_change(m1, sd1, n1, m0, sd0, n0)  # Hedges' g treats the waves as two groups
    fav1, fav0 = s1["pct_favourable"].to_numpy(), s0["pct_favourable"].to_numpy()
    fav = newcombe_diff(np.round(fav1 / 100 * n1), n1, np.round(fav0 / 100 * n0), n0)
    diff = m1 - m0
    q = benjamini_hochberg(test["p"].to_numpy())
    comp = comp.assign(
        n_before=n0, n_now=n1, mean_before=m0, mean_now=m1, diff=diff,
        ci_low=test["ci_low"].to_numpy(), ci_high=test["ci_high"].to_numpy(),
        t=test["t"].to_numpy(), df=test["df"].to_numpy(), p=test["p"].to_numpy(), q=q,
        hedges_g=g["hedges_g"].to_numpy(), g_ci_low=g["g_ci_low"].to_numpy(),
        g_ci_high=g["g_ci_high"].to_numpy(), fav_before=fav0, fav_now=fav1,
        fav_diff=100 * fav["diff"].to_numpy(), fav_ci_low=100 * fav["ci_low"].to_numpy(),
        fav_ci_high=100 * fav["ci_high"].to_numpy(),
        verdict=classify_change(diff, q, min_change=min_change, alpha=alpha).to_numpy())
    out = rows.merge(comp, on=["compared_unit_id", "measure"], how="left")
    out.insert(0, "wave", w1)
    out.insert(1, "previous_wave", w0)
    order = pd.Categorical(out["measure"], categories=measures, ordered=True)
    out = out.assign(_m=order).sort_values(["unit_id", "_m"]).drop(columns="_m")
    notes += [f"{n_hidden} unit x measure cell(s) not released in both waves are left out",
              f"{int((~sd_ok).sum())} comparison(s) not tested: the SD is not released in both "
              "waves (distribution threshold)",
              f"{int((linked > 0).sum())} comparison(s) use the partially overlapping t test "
              f"(>= {min_paired} people in both waves), the rest Welch's",
              f"Benjamini-Hochberg over {int(np.isfinite(test['p']).sum())} comparison(s)"]
    title = f"Change {w0} -> {w1}"
    return TrendTable(title, out[list(CHANGE_COLUMNS)], tuple(notes))



# --------------------------------------------------------------------------- everything


def analyse_trends(waves: Sequence[tuple], releases: Mapping[str, Release],
                   orgs: Mapping[str, pd.DataFrame], *, instrument: Instrument,
                   min_change: float = 0.2, alpha: float = 0.05, min_paired: int = 20,
                   baseline_waves: int = 4) -> TrendReport:
    """Change, control charts, trend, perception gaps and invariance for the latest wave.

    Parameters
    ----------
    waves : ``(wave, responses, scored)`` of every wave (any order; the latest is analysed).
    releases, orgs : wave -> Release and wave -> org chart.
    instrument, min_change, alpha, min_paired, baseline_waves : see :func:`wave_changes`
        and :func:`control_charts`.

    Returns
    -------
    :class:`TrendReport`: changes vs the previous wave, control charts and trends over
    all released waves (every measure, all units), gaps of the latest wave, invariance
    of the last two waves. A part that cannot be estimated is empty and says why in
    ``notes``.
    """
    problems: list[Problem] = []
    if not isinstance(waves, Sequence) or not waves:
        problems.append(Problem("waves", "must be a non-empty sequence of (wave, responses, scored)"))
    else:
        for i, w in enumerate(waves):
            _check_wave_tuple(w, f"waves[{i}]", releases, orgs, problems)
    if problems:
        raise TrendAnalysisError(problems, source="analyse_trends")
    ordered = sorted(waves, key=lambda w: wave_index(w[0]))
    latest, previous = ordered[-1], (ordered[-2] if len(ordered) > 1 else None)
    used = {w[0]: releases[w[0]] for w in ordered}
    notes = [f"{len(ordered)} wave(s) analysed, {ordered[0][0]} to {latest[0]}"]
    if previous is not None:
        changes = wave_changes(latest, previous, instrument=instrument, releases=releases, orgs=orgs,
                               min_change=min_change, alpha=alpha, min_paired=min_paired)
    else:
        changes = TrendTable("Change", pd.DataFrame(columns=list(CHANGE_COLUMNS)),
                             ("only one wave: no change to report",))
    charts = control_charts(used, baseline_waves=baseline_waves)
    trend_rows, trend_notes = [], []
    for m in instrument.construct_ids:
        try:
            part = multiwave_trend(used, measure=m)
        except (InsufficientDataError, ProblemsError) as exc:
            trend_notes.append(f"{m}: no trend ({str(exc).splitlines()[0]})")
            continue
        trend_rows.append(part.table)
        trend_notes += [f"{m}: {n}" for n in part.notes]
    trend = TrendTable("Trend per quarter (mixed model, units random)",
                       pd.concat(trend_rows, ignore_index=True) if trend_rows
                       else pd.DataFrame(columns=list(TREND_COLUMNS)), tuple(dict.fromkeys(trend_notes)))
    rel = releases[latest[0]]
    leader = instrument.leader_demographic
    if leader is not None and rel.demographic == leader.id:
        gaps = perception_gaps(latest[1], latest[2], rel, instrument=instrument, alpha=alpha)
    else:
        gaps = TrendTable("Perception gaps", pd.DataFrame(columns=list(GAP_COLUMNS)),
                          ("no perception gaps: the instrument has no demographic with "
                           "leader_codes, or the wave is not published cut by it",))
    if previous is not None:
        # the wave's frozen thresholds, not the defaults: model outputs need its models threshold
        invariance = instrument_invariance({previous[0]: previous[1], latest[0]: latest[1]}, instrument,
                                           min_n=rel.thresholds.models)
    else:
        invariance = TrendTable("Metric invariance", pd.DataFrame(columns=list(INVARIANCE_COLUMNS)),
                                ("only one wave: invariance not assessed",))
    return TrendReport(wave=latest[0], previous_wave=previous[0] if previous else None,
                       changes=changes, control_charts=charts, trend=trend, gaps=gaps,
                       invariance=invariance, notes=tuple(notes))
