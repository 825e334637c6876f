"""All analyses of one reported wave, as tables for the release bundle.

Called by :func:`culture.pipeline.compute_bundle` after every wave has been
released and audited. Respondent-level data is used only where the method
needs it (change tests, perception gaps, reliability, drivers) and every table
that names a unit is restricted to cells released in the wave's
:class:`~culture.release.Release`. Organisation-wide model outputs are only
computed at or above ``thresholds.models`` respondents.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culture.analysis import findings as fnd
from culture.analysis.instrument_review import instrument_review
from culture.boundary.release import RELEASED, Thresholds
from culture.measure.instrument import Instrument


def participation(released: Mapping) -> pd.DataFrame:
    """Responses and response rate of the whole organisation per wave (released cells only)."""
    rows = []
    for wave, rw in sorted(released.items()):
        rates = rw.release.table("response_rates")
        units = rw.release.table("units")
        root = units.loc[units["parent_id"].isna(), "unit_id"].iloc[0]
        row = rates[(rates["unit_id"] == root) & (rates["status"] == RELEASED)]
        if len(row):
            rows.append({"wave": wave, "n": int(row["n"].iloc[0]),
                         "invited": row["invited"].iloc[0], "response_rate": row["response_rate"].iloc[0]})
    return pd.DataFrame(rows, columns=["wave", "n", "invited", "response_rate"])


def trend_report(released: Mapping, instrument: Instrument, *, min_change: float = 0.2):
    """:func:`~culture.analysis.trends.analyse_trends` over released waves (each with
    ``.data`` = responses, scores, org chart and ``.release``): the latest wave analysed."""
    from culture.analysis.trends import analyse_trends

    ordered = sorted(released.items())
    return analyse_trends([(w, rw.data.responses, rw.data.scored) for w, rw in ordered],
                          {w: rw.release for w, rw in ordered},
                          {w: rw.data.org for w, rw in ordered},
                          instrument=instrument, min_change=min_change)


def analyse_wave(released: Mapping, instrument: Instrument, *, wave: str, thresholds: Thresholds,
                 events: pd.DataFrame, exposure: pd.DataFrame, min_change: float = 0.2,
                 seed: int = 0) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Compute every table of the report pack for ``wave``; returns (tables, notes)."""
    from culture.analysis.drivers import analyse_drivers
    from culture.analysis.quality import analyse_linkage

    current = released[wave]
    releases = {w: rw.release for w, rw in released.items()}
    tables: dict[str, pd.DataFrame] = {"participation": participation(released)}
    notes: list[str] = []

    trends = trend_report(released, instrument, min_change=min_change)
    tables.update(trends.tables)
    notes += list(trends.notes)

    charts = tables.get("control_charts", pd.DataFrame())
    if not charts.empty:
        now = charts[(charts["wave"] == wave) & charts["signals"].fillna("").astype(str).ne("")]
        tables["control_charts_signals"] = now.reset_index(drop=True)

    link = analyse_linkage(releases, events, exposure, instrument=instrument, thresholds=thresholds)
    tables.update({f"linkage_{k}": v for k, v in link.tables.items()})
    tables["quality_panel"] = link.panel
    notes += list(link.notes)

    drivers = analyse_drivers(current.data.responses, current.data.scored, instrument=instrument,
                              thresholds=thresholds, seed=seed)
    tables["drivers"] = drivers.table
    notes += list(drivers.notes)

    review, review_notes = instrument_review(current.data, instrument, thresholds=thresholds)
    tables.update(review)
    notes += review_notes

    release = current.release
    empty = pd.DataFrame()
    found = fnd.rank_findings(
        fnd.change_findings(tables.get("changes", empty), instrument, release),
        fnd.chart_findings(tables.get("control_charts", empty), instrument, release),
        fnd.gap_findings(tables.get("gaps", empty), instrument, release, min_change=min_change),
        fnd.linkage_findings(tables.get("linkage_models", empty), instrument),
    )
    tables["findings"] = found
    tables["iso_evidence"] = fnd.iso_evidence(release, instrument, changes=tables.get("changes", empty),
                                              findings=found)
    tables["constructs"] = pd.DataFrame([
        {"measure": c.id, "name": c.name, "kind": c.kind, "headline": c.headline,
         "clauses": ", ".join(c.clauses), "description": c.description} for c in instrument.constructs])
    tables["items"] = pd.DataFrame([
        {"measure": i.id, "construct": i.construct, "text": i.text, "reverse": i.reverse,
         "sensitive": i.sensitive} for i in instrument.items])
    return tables, notes
