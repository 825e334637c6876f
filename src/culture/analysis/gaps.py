"""Leader-versus-staff perception gaps, where both groups are released."""

from __future__ import annotations

import numpy as np
import pandas as pd

from culture.analysis.trend_tables import (
    GAP_COLUMNS,
    GAP_GROUP,
    TrendTable,
    check_options,
    measure_stats,
    org_tree,
)
from culture.boundary.aggregate import (
    codebooks_of,
)
from culture.boundary.release import RELEASED, Release
from culture.errors import (
    Problem,
    TrendAnalysisError,
)
from culture.frames import PARENT, UNIT
from culture.measure.instrument import Instrument
from culture.stats import (
    benjamini_hochberg,
    classify_change,
    perception_gap,
)

# --------------------------------------------------------------------------- perception gaps


def perception_gaps(responses: pd.DataFrame, scored, release: Release, *, instrument: Instrument,
                    min_gap: float = 0.2, alpha: float = 0.05) -> TrendTable:
    """Leader minus staff score per unit x construct, and per item for the whole organisation.

    Leaders are the ``leader_codes`` of the instrument's leader demographic (the one that
    declares them, e.g. team leads and managers of a role level, pooled), staff its other codes (the missing code is neither). A unit x
    measure is compared only when its staff band and at least one leader band are
    released in the release's ``cuts`` table and no band with people in it is withheld,
    so both groups are unions of released cells. Statistics come from the respondent
    data: Welch CI and Hedges' g (:func:`culture.trends.perception_gap`; R
    ``t.test(leader, staff)``); BH over every row gives ``q``; ``verdict`` as
    :func:`culture.trends.classify_change` with ``min_gap``. As for changes, ``t``, ``p``,
    CI and g need the SD of every band involved to be released (else ``"not tested"``).

    Returns
    -------
    :class:`TrendTable` with :data:`GAP_COLUMNS`; ``kind`` is ``construct``, ``outcome``
    or ``item`` (items only for the root unit).
    """
    problems: list[Problem] = []
    check_options(problems, min_change=min_gap, alpha=alpha)
    role = instrument.leader_demographic if isinstance(instrument, Instrument) else None
    cut = role.id if role else None
    if role is None:
        problems.append(Problem("instrument", "has no demographic with leader_codes: no gaps"))
    if not isinstance(release, Release):
        problems.append(Problem("release", "must be a Release"))
    elif cut and release.demographic != cut:
        problems.append(Problem("release", f"must be cut by {cut} (aggregate_wave(..., "
                                           f"by=('{cut}',))); it is cut by {release.demographic}"))
    if not isinstance(responses, pd.DataFrame) or (cut and cut not in responses.columns):
        problems.append(Problem("responses", f"must be a DataFrame with a '{cut}' column"))
    elif not hasattr(scored, "scores") or len(scored.scores) != len(responses):
        problems.append(Problem("scored", "must be the ScoredWave of these responses"))
    if problems:
        raise TrendAnalysisError(problems, source="perception_gaps")

    leaders = list(role.leader_codes)
    staff = [c for c in role.codes if c not in leaders]
    org = release.table("units")[[UNIT, PARENT, "name"]]
    tree = org_tree(org)
    band = responses[cut].astype("string")
    group = np.select([band.isin(leaders).to_numpy(dtype=bool), band.isin(staff).to_numpy(dtype=bool)],
                      ["leader", "staff"], "other")
    data = responses.assign(**{GAP_GROUP: group})
    # Cut by the release's bands (to match its cells) and by the pooled groups, in one pass.
    common = {"by": (cut, GAP_GROUP),
              "codebooks": {**codebooks_of(instrument), GAP_GROUP: (("leader", "staff", "other"), None)}}
    constructs = list(instrument.construct_ids)
    kinds = {c.id: ("outcome" if c.kind == "outcome" else "construct") for c in instrument.constructs}
    stats = pd.concat([
        measure_stats(data, scored.scores[constructs], org, kind=kinds, **common),
        measure_stats(data, scored.keyed[list(instrument.item_ids)], org, kind="item", **common)],
        ignore_index=True)

    def by_band(frame: pd.DataFrame, value: str) -> pd.DataFrame:
        return frame.pivot_table(index=["unit_id", "kind", "measure"], columns="band", values=value,
                                 aggfunc="first", dropna=False)

    pooled = stats[stats["demographic"] == GAP_GROUP]
    wide = {v: by_band(pooled, v) for v in ("n", "mean", "sd")}
    idx = wide["n"].index
    has = by_band(stats[stats["demographic"] == cut], "n").reindex(idx) > 0
    cuts = release.table("cuts")
    cuts = cuts[(cuts["demographic"] == cut) & cuts["kind"].isin(["construct", "outcome", "item"])]
    cells = cuts.set_index(["unit_id", "kind", "measure", "band"])
    data_n = stats[stats["demographic"] == cut].set_index(
        ["unit_id", "kind", "measure", "band"])["n"].reindex(cells.index)
    shown_cells = cells["status"] == RELEASED
    if (shown_cells & (cells["n"].astype(np.float64) != data_n.to_numpy(np.float64))).any():
        raise TrendAnalysisError([Problem(f"release {release.wave}.cuts", f"released {cut} counts "
                                          "do not match the responses; pass the responses the release "
                                          "was built from")], source="perception_gaps")
    shown = by_band(cuts.assign(v=shown_cells.to_numpy()), "v").reindex(idx).fillna(False).astype(bool)
    sd_shown = by_band(cuts.assign(v=cuts["sd"].notna()), "v").reindex(idx).fillna(False).astype(bool)

    def every(frame: pd.DataFrame, codes: list[str]) -> np.ndarray:
        return np.logical_and.reduce([frame[c].to_numpy(bool) | ~has[c].to_numpy(bool) for c in codes])

    def some(frame: pd.DataFrame, codes: list[str]) -> np.ndarray:
        return np.logical_or.reduce([frame[c].to_numpy(bool) & has[c].to_numpy(bool) for c in codes])

    keep = every(shown, staff) & some(shown, staff) & every(shown, leaders) & some(shown, leaders)
    keep &= (idx.get_level_values("kind") != "item") | (idx.get_level_values("unit_id") == tree.root)
    tested = every(sd_shown, [*staff, *leaders])

    def side(g: str) -> pd.DataFrame:
        return pd.DataFrame({"mean": wide["mean"][g], "sd": wide["sd"][g].where(tested),
                             "n": wide["n"][g].astype(np.float64)}, index=idx)[keep]

    gap = perception_gap(side("leader"), side("staff")).reset_index()
    gap["diff"] = gap["leader_mean"] - gap["staff_mean"]  # means are released even when untested
    gap["q"] = benjamini_hochberg(gap["p"].to_numpy())
    gap["verdict"] = classify_change(gap["diff"], gap["q"], min_change=min_gap, alpha=alpha).to_numpy()
    gap["unit"] = tree.names.reindex(gap["unit_id"]).to_numpy()
    gap = gap.sort_values(["unit_id", "kind", "measure"])
    notes = [f"leaders = {cut} {', '.join(leaders)}; staff = {', '.join(staff)}",
             f"{int((keep & ~tested).sum())} gap(s) not tested: an SD is not released "
             "(distribution threshold)"]
    return TrendTable(f"Leader vs staff perception gaps, wave {release.wave}",
                      gap[list(GAP_COLUMNS)], tuple(notes))
