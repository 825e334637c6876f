"""Measuring with the instrument: its definition, scores, and whether it measures well.

:mod:`~culture.measure.instrument` loads ``surveys/*.yaml`` (constructs, items,
reverse keys, scale, ISO 9001 clauses); :mod:`~culture.measure.scoring` turns
answers into construct scores and data-quality flags; :mod:`~culture.measure.reliability`
(alpha, omega, agreement) and :mod:`~culture.measure.structure` (factor structure,
invariance) check the instrument against the published reference values of R
``psych`` and ``lavaan``. Everything here works on respondent-level data and
stays inside the confidentiality boundary.
"""

from culture.errors import PsychometricsInputError
from culture.measure.instrument import (
    Instrument,
    load_default_instrument,
    load_instrument,
    parse_instrument,
)
from culture.measure.reliability import (
    AlphaResult,
    OmegaResult,
    alpha,
    flag_items,
    icc,
    instrument_reliability,
    item_statistics,
    omega,
    omega_total,
    pairwise_alpha,
    rwg_j,
)
from culture.measure.scoring import ScoredWave, score
from culture.measure.structure import CFAResult, InvarianceResult, cfa, metric_invariance

__all__ = [
    "AlphaResult", "CFAResult", "Instrument", "InvarianceResult", "OmegaResult",
    "PsychometricsInputError", "ScoredWave", "alpha", "cfa", "flag_items", "icc", "instrument_reliability", "item_statistics", "load_default_instrument",
    "load_instrument", "metric_invariance", "omega", "omega_total", "pairwise_alpha", "parse_instrument",
    "rwg_j", "score",
]
