"""Result tables of the trend analyses, and the org-tree and input helpers they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from culture.boundary.aggregate import (
    aggregate_measures,
    closure_table,
)
from culture.boundary.release import Release
from culture.errors import (
    Problem,
)
from culture.frames import RESPONDENT, UNIT, WAVE
from culture.results import Result

RULE_SAME = "same unit"
RULE_RENAMED = "renamed: history kept"
RULE_REORG = "re-organised: compared at {}"

CHANGE_COLUMNS = (
    "wave", "previous_wave", "unit_id", "unit", "compared_unit_id", "rule", "measure",
    "n_before", "n_now", "mean_before", "mean_now", "diff", "ci_low", "ci_high", "t", "df", "p",
    "q", "hedges_g", "g_ci_low", "g_ci_high", "fav_before", "fav_now", "fav_diff", "fav_ci_low",
    "fav_ci_high", "paired_n", "paired_diff", "paired_p", "verdict",
)
CHART_COLUMNS = ("unit_id", "unit", "measure", "wave", "value", "baseline", "centre", "lcl", "ucl",
                 "signals")
GAP_COLUMNS = ("unit_id", "unit", "kind", "measure", "leader_n", "staff_n", "leader_mean",
               "staff_mean", "diff", "ci_low", "ci_high", "t", "df", "p", "q", "hedges_g",
               "g_ci_low", "g_ci_high", "verdict")
TREND_COLUMNS = ("measure", "level", "slope", "se", "ci_low", "ci_high", "p", "n_units", "n_obs",
                 "converged")
INVARIANCE_COLUMNS = ("construct", "waves", "n_obs", "n_items", "cfi_configural",
                      "rmsea_configural", "cfi_metric", "delta_cfi", "chisq_diff", "df_diff",
                      "p_value", "accepted", "verdict")
GAP_GROUP = "_gap_group"  # derived leader/staff column for perception gaps




# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrendTable(Result):
    """One tidy result table with its caveats.

    Attributes
    ----------
    title : what the table is (shown by :meth:`summary`).
    table : the tidy DataFrame (a copy is returned on every access).
    notes : caveats: left-out cells, skipped series, methods.
    details : fitted models behind the table (e.g. the :class:`~culture.trends.MixedTrend`).
    """

    title: str
    _table: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", self._table.reset_index(drop=True).copy())
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def table(self) -> pd.DataFrame:
        return self._table.copy()

    def summary(self) -> str:
        lines = [f"{self.title}: {len(self._table)} row(s)"]
        if "verdict" in self._table.columns and len(self._table):
            counts = self._table["verdict"].value_counts()
            lines.append("; ".join(f"{k}: {v}" for k, v in counts.items()))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": self.title, "reference": "see culture.stats (each statistic names its R call)"}




@dataclass(frozen=True)
class TrendReport(Result):
    """Everything :func:`analyse_trends` computes for the latest wave.

    ``changes`` (vs the previous wave), ``control_charts`` and ``trend`` (all waves),
    ``gaps`` (leader vs staff, latest wave), ``invariance`` (last two waves).
    """

    wave: str
    previous_wave: str | None
    changes: TrendTable
    control_charts: TrendTable
    trend: TrendTable
    gaps: TrendTable
    invariance: TrendTable
    notes: tuple[str, ...] = ()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"changes": self.changes.table, "control_charts": self.control_charts.table,
                "trend": self.trend.table, "gaps": self.gaps.table,
                "invariance": self.invariance.table}

    def summary(self) -> str:
        parts = [f"Trends for wave {self.wave}"
                 + (f" (changes vs {self.previous_wave})" if self.previous_wave else "")]
        for part in (self.changes, self.control_charts, self.trend, self.gaps, self.invariance):
            parts.append(part.summary())
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)

    @property
    def table(self) -> pd.DataFrame:
        """The main table (for display; see the attributes for the rest)."""
        return self.changes.table

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'change vs the previous wave (Welch / partially overlapping t, Benjamini-Hochberg), XmR control charts, mixed-model trend, leader-staff gaps, metric invariance',
                "reference": "R t.test, p.adjust(method = 'BH'), Partiallyoverlapping::Partover.test, qcc, lme4::lmer, lavaan"}




# --------------------------------------------------------------------------- org trees


def org_of(org: pd.DataFrame, wave: str) -> pd.DataFrame:
    """The org chart of one wave (rows of other waves dropped when there is a wave column)."""
    if WAVE in org.columns:
        org = org[org[WAVE].astype("string") == wave]
    return org.reset_index(drop=True)


@dataclass(frozen=True)
class OrgTree:
    closure: pd.DataFrame   # ancestor, descendant, depth (unit ids)
    signature: pd.Series    # unit_id -> "|"-joined sorted subtree ids
    depth: pd.Series        # unit_id -> depth below the root (root 0)
    names: pd.Series        # unit_id -> name
    root: str


def org_tree(org: pd.DataFrame) -> OrgTree:
    cl = closure_table(org)
    sig = cl.sort_values(["ancestor", "descendant"]).groupby("ancestor")["descendant"].agg("|".join)
    depth = cl.groupby("descendant")["depth"].max()
    ids = org[UNIT].astype("string")
    names = (org["name"].astype("string") if "name" in org.columns else ids)
    names = pd.Series(names.to_numpy(dtype=object), index=ids.to_numpy(dtype=object))
    root = str(depth.idxmin())
    return OrgTree(cl, sig, depth, names, root)



def check_options(problems: list[Problem], *, min_change: Any = 0.0, alpha: Any = 0.05) -> None:
    if isinstance(min_change, bool) or not isinstance(min_change, int | float) or min_change < 0:
        problems.append(Problem("min_change", "must be a number >= 0 (scale points)"))
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        problems.append(Problem("alpha", "must be a number strictly between 0 and 1"))


def measure_stats(responses: pd.DataFrame, values: pd.DataFrame, org: pd.DataFrame, *,
                   favourable: pd.DataFrame | None = None, kind: Any = "construct",
                   by: Sequence[str] = (), codebooks: Mapping | None = None) -> pd.DataFrame:
    """Subtree statistics exactly as the release was built (same function, same people)."""
    cols = [c for c in (RESPONDENT, UNIT, *by) if c in responses.columns]
    return aggregate_measures(responses[cols], values, org, kind=kind, favourable=favourable,
                              by=by, codebooks=codebooks or {})



def check_releases(releases: Any, problems: list[Problem]) -> None:
    if not isinstance(releases, Mapping) or not releases:
        problems.append(Problem("releases", "must be a non-empty mapping wave -> Release"))
        return
    for w, r in releases.items():
        if not isinstance(r, Release) or r.wave != w:
            problems.append(Problem(f"releases[{w!r}]", f"must be the Release of wave {w}"))
