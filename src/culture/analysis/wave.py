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
from culture.analysis import verdicts
from culture.analysis.comment_themes import analyse_comment_themes
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
                 targets: Mapping[str, float] | None = None,
                 seed: int = 0) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Compute every table of the report pack for ``wave``; returns (tables, notes).

    Every verdict (changes, gaps, associations) gets its reason in plain words here
    (:mod:`culture.analysis.verdicts`); findings and pages read those columns."""
    from culture.analysis.drivers import analyse_drivers
    from culture.analysis.quality import analyse_linkage

    current = released[wave]
    releases = {w: rw.release for w, rw in released.items()}
    tables: dict[str, pd.DataFrame] = {"participation": participation(released)}
    notes: list[str] = []

    trends = trend_report(released, instrument, min_change=min_change)
    tables.update(trends.tables)
    notes += list(trends.notes)
    k_spread = thresholds.distributions
    if "changes" in tables:
        tables["changes"] = verdicts.explain_changes(tables["changes"], min_change=min_change,
                                                     k_spread=k_spread)
    if "gaps" in tables:
        tables["gaps"] = verdicts.explain_gaps(tables["gaps"], min_gap=min_change, k_spread=k_spread)

    charts = tables.get("control_charts", pd.DataFrame())
    if not charts.empty:
        now = charts[(charts["wave"] == wave) & charts["signals"].fillna("").astype(str).ne("")]
        tables["control_charts_signals"] = now.reset_index(drop=True)

    link = analyse_linkage(releases, events, exposure, instrument=instrument, thresholds=thresholds)
    tables.update({f"linkage_{k}": v for k, v in link.tables.items()})
    if "linkage_models" in tables:
        tables["linkage_models"] = verdicts.linkage_verdicts(tables["linkage_models"],
                                                             instrument.construct_ids)
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
                                              findings=found, targets=targets)
    tables["constructs"] = construct_table(instrument)
    tables["items"] = item_table(instrument)
    if instrument.comments:  # themes and sentiment of the released comment cells only
        themed, theme_notes = analyse_comment_themes(releases, instrument, wave=wave)
        tables.update(themed)
        notes += theme_notes
    return tables, notes


def construct_table(instrument: Instrument) -> pd.DataFrame:
    """The constructs as pages name them (``headline`` as the instrument declares or derives)."""
    headline = {c.id for c in instrument.headline_constructs}
    outcome = instrument.outcome_index.id if instrument.outcome_index else None
    return pd.DataFrame([
        {"measure": c.id, "name": c.name.split(" (")[0], "kind": c.kind, "headline": c.id in headline,
         "outcome_index": c.id == outcome, "clauses": ", ".join(c.clauses),
         "description": c.description} for c in instrument.constructs],
        columns=["measure", "name", "kind", "headline", "outcome_index", "clauses", "description"])


def item_table(instrument: Instrument) -> pd.DataFrame:
    return pd.DataFrame([
        {"measure": i.id, "construct": i.construct, "text": i.text, "reverse": i.reverse,
         "sensitive": i.sensitive} for i in instrument.items],
        columns=["measure", "construct", "text", "reverse", "sensitive"])


def instrument_display(instrument: Instrument) -> dict:
    """What pages need to word the instrument: its title, scale and labels, which answers
    count as favourable, the outcome index, the leader demographic, the ISO mapping."""
    scale = instrument.scale
    leader = instrument.leader_demographic
    outcome = instrument.outcome_index
    return {"title": instrument.title,
            "scale": {"min": scale.min, "max": scale.max,
                      "labels": {str(k): v for k, v in scale.labels.items()},
                      "favourable": [int(c) for c in scale.favourable]},
            "outcome_index": {"id": outcome.id, "name": outcome.name.split(" (")[0]} if outcome else None,
            "leader_demographic": ({"id": leader.id, "name": leader.name,
                                    "leader_codes": [str(c) for c in leader.leader_codes]}
                                   if leader else None),
            "iso_mapping": bool(instrument.has_iso_mapping),
            "comment_questions": {q.id: q.text for q in instrument.comments}}
