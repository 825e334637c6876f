"""The confidentiality boundary: from respondent-level data to what may be published.

Inside: :mod:`~culture.boundary.aggregate` (group statistics over the org tree),
:mod:`~culture.boundary.suppression` (primary and complementary suppression to a
fixpoint), :mod:`~culture.boundary.comments` (redaction, stable shuffle) and
:mod:`~culture.boundary.ledger` (what each release published, so a later release
cannot be subtracted from it). The check: :mod:`~culture.boundary.audit`, written
separately and sharing no code with suppression. The way out:
:mod:`~culture.boundary.release` (:class:`Release`, the only thing the report layer
reads), :mod:`~culture.boundary.bundle` (a wave's releases and analysis tables as
files) and :mod:`~culture.boundary.leakgate` (the last scan of every published file).

Exports load lazily: importing the release side does not load the suppression engine.
"""

from culture._lazy import lazy_exports

_EXPORTS = {
    "ALL": "aggregate", "RESPONDENTS": "aggregate", "WaveAggregates": "aggregate",
    "aggregate_measures": "aggregate", "aggregate_wave": "aggregate", "org_index": "aggregate",
    "AuditResult": "audit", "audit_release": "audit",
    "Bundle": "bundle",
    "comments_long": "comments", "redact": "comments", "unreleased_texts": "comments",
    "LeakReport": "leakgate", "fold_text": "leakgate", "html_escape": "leakgate",
    "neutralise_formula": "leakgate", "neutralise_frame": "leakgate", "scan_outputs": "leakgate",
    "Published": "ledger", "risky_cells": "ledger",
    "RELEASED": "release", "SUPPRESSED": "release", "SUPPRESSED_LABEL": "release",
    "Release": "release", "Thresholds": "release", "count_label": "release",
    "release_table": "release", "unit_paths": "release",
    "build_release": "suppression", "suppress": "suppression",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
