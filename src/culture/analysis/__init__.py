"""Analyses of released waves: what changed, what goes with quality, what drives engagement.

Every table here names only units whose cells are released in the wave's
:class:`~culture.boundary.release.Release`; statistics that need respondent-level
data (change tests, perception gaps, reliability, drivers) get it from the
pipeline inside the boundary and return aggregates only. Never imports the store
or the readers.

- :mod:`~culture.analysis.trends`: change against the previous wave per unit and
  measure, re-organisations, and everything over time (:func:`analyse_trends`);
- :mod:`~culture.analysis.series`: control charts and multi-wave trends of released means;
- :mod:`~culture.analysis.gaps`: leader-versus-staff perception gaps;
- :mod:`~culture.analysis.instrument_review`: reliability, items, CFA, invariance;
- :mod:`~culture.analysis.quality`: culture and quality outcomes (count and mixed models);
- :mod:`~culture.analysis.drivers`: key drivers of the outcome index;
- :mod:`~culture.analysis.findings`: ranked plain-language findings, ISO 9001 evidence;
- :mod:`~culture.analysis.actions`: follow-up of improvement actions, suggestions, summary;
- :mod:`~culture.analysis.wave`: all of the above for one reported wave, as bundle tables.
"""

from culture._lazy import lazy_exports

_EXPORTS = {
    "action_summary": "actions", "follow_up": "actions", "suggest_actions": "actions",
    "analyse_drivers": "drivers", "analyse_linkage": "quality", "analyse_trends": "trends",
    "analyse_wave": "wave", "iso_evidence": "findings", "rank_findings": "findings",
    "instrument_review": "instrument_review",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
