"""Improvement actions measured on released waves: follow-up, suggestions, a summary.

Pure functions over the actions register (:data:`culture.frames.ACTION_COLUMNS`, as
``Workspace.actions()`` returns it) and released waves; nothing here reads the store.
What the pack calls:

``follow_up(actions, releases, *, min_change, alpha=0.05, survey_dates=None)``
    one row per closed action (:data:`FOLLOW_UP_COLUMNS`) with a plain verdict
    (:data:`VERDICTS`) and its reason.
``actions_with_verdicts(actions, follow_up, *, today)``
    the register with each closed action's verdict and an ``overdue`` flag: what a
    brief lists for its unit (filter by ``unit_id``; actions are not respondent data,
    but a recipient only sees the units in their scope).
``suggest_actions(focus, actions, *, names=None)``
    a suggestion line per focus area without an open action (``actions_suggested.csv``).
``action_summary(actions, follow_up, *, today)``
    open, overdue, closed, cancelled, improved and the share of closed actions with a
    measured improvement (the organisation report and the management review deck).

When a survey counts as before or after an action. Waves are quarters (``YYYYQn``) and a
survey's own dates are not released, so each wave is dated at the first day of its
quarter, the usual fieldwork start, unless ``survey_dates`` gives a wave's date (e.g.
when fieldwork closed). The wave *before* an action is the latest wave dated before the
day it was opened (an action opened in August answers the survey of July); the wave
*after* is the first wave dated after the day it closed, so the whole action lies
between the two measurements.

The measured change follows the rules of every other change in the pack: released cells
only (a withheld cell in either wave gives "not measurable (withheld)"); a Welch test on
the released mean, SD and n of the two waves (:func:`culture.stats.change.welch_change`;
the SD is released only at the distributions threshold, and without it the change is
not testable and says so); q values by Benjamini-Hochberg across every follow-up
measured in the same wave; and the meaningful minimum ``min_change``. The change is
compared with the units of the same level that have no action on that construct
(difference in differences: the action unit's change minus the mean change of those
units; the CI from both variances, the comparison's being the sum of their sampling
variances over k^2, normal quantile; a comparison unit whose SD is withheld takes the
pooled released SD of its level). "improved beyond noise" needs all three: q below
``alpha``, a rise of at least ``min_change``, and a difference-in-differences CI above 0.
It is an association with the action, not proof that the action caused the rise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from culture import frames as F
from culture.analysis.verdicts import fmt_q
from culture.boundary.release import RELEASED, Release
from culture.stats.change import benjamini_hochberg, welch_change, z_quantile

IMPROVED = "improved beyond noise"
NOT_YET = "no measurable change yet"
WITHHELD = "not measurable (withheld)"
VERDICTS = (IMPROVED, NOT_YET, WITHHELD)
FOLLOW_UP_COLUMNS = ("action_id", "unit_id", "construct", "wave_before", "wave_after",
                     "mean_before", "mean_after", "change", "ci_low", "ci_high", "p", "q",
                     "did", "did_ci_low", "did_ci_high", "n_comparison_units", "verdict",
                     "reason")
SUGGESTION_COLUMNS = ("unit_id", "construct", "finding_id", "suggested_clause", "text")
CORRECTIVE, IMPROVEMENT = "10.2", "10.3"


# --------------------------------------------------------------------------- dates of waves

def wave_date(wave: str, survey_dates: Mapping[str, Any] | None = None) -> pd.Timestamp:
    """The date a wave counts as surveyed: ``survey_dates[wave]``, else its quarter's first day."""
    if survey_dates and wave in survey_dates:
        return pd.Timestamp(survey_dates[wave])
    year, quarter = divmod(F.wave_index(wave), 4)
    return pd.Timestamp(year=year, month=3 * quarter + 1, day=1)


def waves_around(opened: Any, closed: Any, waves: list[str],
                 survey_dates: Mapping[str, Any] | None = None) -> tuple[str | None, str | None]:
    """(latest wave dated before ``opened``, first wave dated after ``closed``), None if none."""
    dated = sorted((wave_date(w, survey_dates), w) for w in waves)
    before = [w for d, w in dated if d < pd.Timestamp(opened)]
    after = [w for d, w in dated if pd.notna(closed) and d > pd.Timestamp(closed)]
    return (before[-1] if before else None), (after[0] if after else None)


# --------------------------------------------------------------------------- released cells

def _cells(release: Release) -> pd.DataFrame:
    """Construct and item cells of a release by (unit_id, measure): status, n, mean, sd."""
    cols = ["unit_id", "measure", "status", "n", "mean", "sd"]
    both = pd.concat([release.table("scores")[cols], release.table("items")[cols]],
                     ignore_index=True)
    return both.drop_duplicates(["unit_id", "measure"]).set_index(["unit_id", "measure"])


def _depths(release: Release) -> dict[str, int]:
    """Each unit's depth below the organisation (root 0), from the release's unit table."""
    units = release.table("units")
    parent = {u: (None if pd.isna(p) else p)
              for u, p in zip(units["unit_id"], units["parent_id"], strict=True)}
    out = {}
    for unit in parent:
        depth, u = 0, parent[unit]
        while u is not None and depth <= len(parent):
            depth, u = depth + 1, parent.get(u)
        out[unit] = depth
    return out


def _cell(cells: pd.DataFrame, unit: str, measure: str) -> pd.Series | None:
    key = (unit, measure)
    return cells.loc[key] if key in cells.index else None


def _variance(cell: pd.Series, fallback_sd: float = np.nan) -> float:
    """Sampling variance of a released mean; ``fallback_sd`` where its SD is withheld."""
    sd = float(cell["sd"]) if pd.notna(cell["sd"]) else fallback_sd
    return sd**2 / float(cell["n"])


def _testable(cell: pd.Series | None) -> bool:
    return cell is not None and cell["status"] == RELEASED and pd.notna(cell["sd"])


# --------------------------------------------------------------------------- follow-up

def follow_up(actions: pd.DataFrame, releases: Mapping[str, Release], *, min_change: float,
              alpha: float = 0.05,
              survey_dates: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The measured follow-up of every closed action (module doc): :data:`FOLLOW_UP_COLUMNS`.

    ``releases``: the released waves by wave (any order, at least the waves around the
    actions); ``min_change``: the meaningful change in scale points (the policy's).
    """
    waves = list(releases)
    cells = {w: _cells(r) for w, r in releases.items()}
    depths = {w: _depths(r) for w, r in releases.items()}
    targeted = _targeted(actions)
    rows = []
    for a in actions[actions["status"] == "closed"].itertuples(index=False):
        before, after = waves_around(a.opened, a.closed, waves, survey_dates)
        row = dict.fromkeys(FOLLOW_UP_COLUMNS, np.nan) | {
            "action_id": a.action_id, "unit_id": a.unit_id, "construct": a.construct,
            "wave_before": before, "wave_after": after, "n_comparison_units": 0,
            "verdict": None, "reason": None}
        if before is None or after is None:
            row.update(verdict=NOT_YET, reason="no survey before it was opened" if before is None
                       else "no survey since it closed")
        else:
            _measure(row, cells[before], cells[after], depths[after], targeted)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(FOLLOW_UP_COLUMNS))
    out[["verdict", "reason"]] = out[["verdict", "reason"]].astype(object)
    for idx in out.groupby("wave_after").groups.values():
        tested = idx[out.loc[idx, "p"].notna().to_numpy()]
        out.loc[tested, "q"] = benjamini_hochberg(out.loc[tested, "p"].to_numpy())
    for i in out.index[out["verdict"].isna()]:
        out.loc[i, ["verdict", "reason"]] = _verdict(out.loc[i], min_change, alpha)
    out["n_comparison_units"] = out["n_comparison_units"].astype("int64")
    return out


def _measure(row: dict[str, Any], before: pd.DataFrame, after: pd.DataFrame,
             depth: Mapping[str, int], targeted: set[tuple[str, str]]) -> None:
    """Fill ``row`` (one closed action) from the released cells of its two waves: the means,
    the Welch test and the difference in differences, or the withheld verdict. Withheld
    cells get one neutral reason: saying why would tell which cells are large."""
    unit, measure = row["unit_id"], row["construct"]
    c0, c1 = _cell(before, unit, measure), _cell(after, unit, measure)
    for key, cell in (("mean_before", c0), ("mean_after", c1)):
        if cell is not None and cell["status"] == RELEASED:
            row[key] = float(cell["mean"])
    hidden = [w for w, c in ((row["wave_before"], c0), (row["wave_after"], c1))
              if c is None or c["status"] != RELEASED]
    if hidden:
        row.update(verdict=WITHHELD, reason=f"the score is not reported in "
                   f"{' and '.join(hidden)} (protects anonymity)")
        return
    row["change"] = row["mean_after"] - row["mean_before"]
    if not (_testable(c0) and _testable(c1)):
        row.update(verdict=WITHHELD, reason="the means are reported but not their spread "
                   "(protects anonymity), so the change cannot be tested")
        return
    test = welch_change(c1["mean"], c1["sd"], c1["n"], c0["mean"], c0["sd"], c0["n"]).iloc[0]
    row.update(ci_low=test["ci_low"], ci_high=test["ci_high"], p=test["p"])
    others = _comparison(before, after, depth, unit, measure, targeted)
    row["n_comparison_units"] = len(others)
    if len(others):
        half = z_quantile(0.95) * np.sqrt(test["se"] ** 2 + others["var"].sum()
                                          / len(others) ** 2)
        row["did"] = row["change"] - others["change"].mean()
        row.update(did_ci_low=row["did"] - half, did_ci_high=row["did"] + half)


def _targeted(actions: pd.DataFrame) -> set[tuple[str, str]]:
    """(unit, construct) pairs with an action (not cancelled): never comparison units."""
    live = actions[actions["status"] != "cancelled"]
    return set(zip(live["unit_id"], live["construct"], strict=True))


def _comparison(before: pd.DataFrame, after: pd.DataFrame, depth: Mapping[str, int],
                unit: str, measure: str, targeted: set[tuple[str, str]]) -> pd.DataFrame:
    """Change and its sampling variance of every unit at ``unit``'s level without an action
    on ``measure`` whose mean is released in both waves.

    A unit whose SD is withheld (the distributions threshold, or complementary suppression
    of spreads) still counts, with the pooled released SD of its level in that wave: the
    comparison is about the level's typical change, and dropping every small unit would
    leave many levels without any."""
    level = depth.get(unit)
    peers = [u for u, d in depth.items() if d == level]
    pooled = [_pooled_sd(cells, peers, measure) for cells in (before, after)]
    rows = []
    for other in peers:
        if other == unit or (other, measure) in targeted:
            continue
        c0, c1 = _cell(before, other, measure), _cell(after, other, measure)
        if not all(c is not None and c["status"] == RELEASED for c in (c0, c1)):
            continue
        var = sum(_variance(c, sd) for c, sd in zip((c0, c1), pooled, strict=True))
        if np.isfinite(var):
            rows.append({"unit_id": other, "change": float(c1["mean"]) - float(c0["mean"]),
                         "var": var})
    return pd.DataFrame(rows, columns=["unit_id", "change", "var"])


def _pooled_sd(cells: pd.DataFrame, units: list[str], measure: str) -> float:
    """Root mean square of the released SDs of ``units`` (NaN when none is released)."""
    sds = [float(c["sd"]) for u in units if _testable(c := _cell(cells, u, measure))]
    return float(np.sqrt(np.mean(np.square(sds)))) if sds else np.nan


def _verdict(r: pd.Series, min_change: float, alpha: float) -> list[str]:
    """The verdict of a tested follow-up and its reason, in plain words."""
    missing = []
    if not r.q < alpha:
        missing.append(f"not beyond noise after the correction for many comparisons "
                       f"({fmt_q(r.q)})")
    if not r.change >= min_change:
        missing.append(f"a change of {r.change:+.2f}, less than the meaningful rise of "
                       f"{min_change:.2f}")
    if r.n_comparison_units == 0:
        missing.append("no unit of the same level without such an action to compare with")
    elif not r.did_ci_low > 0:
        missing.append(f"not clearly more than the change of {r.n_comparison_units} comparable "
                       f"unit(s) without such an action (difference {r.did:+.2f}, 95% CI "
                       f"{r.did_ci_low:+.2f} to {r.did_ci_high:+.2f})")
    if missing:
        return [NOT_YET, "; ".join(missing)]
    return [IMPROVED, (f"rose {r.change:+.2f} from {r.wave_before} to {r.wave_after} "
                      f"({fmt_q(r.q)}), {r.did:+.2f} more than {r.n_comparison_units} comparable "
                      "unit(s) without such an action: an association with the action, not "
                      "proof that it caused the rise")]


# --------------------------------------------------------------------------- for the pack

def actions_with_verdicts(actions: pd.DataFrame, follow_up: pd.DataFrame, *,
                          today: date | pd.Timestamp) -> pd.DataFrame:
    """The register with ``overdue`` (open and due before ``today``) and, for closed
    actions, the follow-up's ``wave_after``, ``verdict`` and ``reason`` (else None)."""
    verdicts = follow_up[["action_id", "wave_after", "verdict", "reason"]]
    out = actions.merge(verdicts, on="action_id", how="left")
    out["overdue"] = _overdue(out, today)
    for c in ("wave_after", "verdict", "reason"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _overdue(actions: pd.DataFrame, today: date | pd.Timestamp) -> pd.Series:
    return actions["status"].eq("open") & (actions["due"] < pd.Timestamp(today))


def action_summary(actions: pd.DataFrame, follow_up: pd.DataFrame, *,
                   today: date | pd.Timestamp) -> dict[str, Any]:
    """Counts of ``open``, ``overdue`` (open, due before ``today``), ``closed``,
    ``cancelled``, ``measured`` (closed with a tested follow-up), ``improved`` ("improved
    beyond noise"), and ``share_improved`` = improved / closed (None with nothing closed)."""
    status = actions["status"]
    closed = int(status.eq("closed").sum())
    improved = int(follow_up["verdict"].eq(IMPROVED).sum())
    return {"open": int(status.eq("open").sum()), "overdue": int(_overdue(actions, today).sum()),
            "closed": closed, "cancelled": int(status.eq("cancelled").sum()),
            "measured": int(follow_up["q"].notna().sum()), "improved": improved,
            "share_improved": improved / closed if closed else None}


def suggest_actions(focus: pd.DataFrame, actions: pd.DataFrame, *,
                    names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A suggestion per focus area that has no open action on its unit and construct.

    ``focus``: one row per focus area with ``unit_id`` and ``construct`` (or ``measure``);
    optional ``finding_id``, ``name`` (the construct's name as people read it, else
    ``names[construct]``, else the id), and what makes it corrective: ``direction ==
    "down"`` (a drop) or ``below_target`` true. Corrective ones suggest ISO 9001 10.2,
    the others 10.3 (improvement). Returns :data:`SUGGESTION_COLUMNS`.
    """
    focus = focus.rename(columns={"measure": "construct"}) if "construct" not in focus else focus
    live = actions[actions["status"] == "open"]
    taken = set(zip(live["unit_id"], live["construct"], strict=True))
    rows = []
    for f in focus.to_dict("records"):
        if (f["unit_id"], f["construct"]) in taken:
            continue
        below = f.get("below_target")
        corrective = f.get("direction") == "down" or (below is not None and not pd.isna(below)
                                                      and bool(below))
        clause = CORRECTIVE if corrective else IMPROVEMENT
        name = f.get("name") or (names or {}).get(f["construct"], f["construct"])
        what = "a corrective action" if corrective else "an action"
        finding = f.get("finding_id")
        rows.append({"unit_id": f["unit_id"], "construct": f["construct"],
                     "finding_id": None if finding is None or pd.isna(finding) else finding,
                     "suggested_clause": clause,
                     "text": f"Agree {what} on {name} with the team (ISO 9001 {clause})"})
    return pd.DataFrame(rows, columns=list(SUGGESTION_COLUMNS))
