"""A synthetic organisation with known truth, and the survey-tool files it is written as.

:mod:`~culture.synth.organisation` plants everything an analysis should find (change
events, a leader-staff gap, driver weights, quality outcomes from lagged culture)
and returns it in :class:`Truth`; :mod:`~culture.synth.actions` derives improvement
actions with and without a real effect from the planted events;
:mod:`~culture.synth.tool_exports` writes responses as Qualtrics, SurveyMonkey, Microsoft
Forms, Google Forms, LimeSurvey, SPSS or plain CSV/XLSX exports, the *inputs* a user brings (the pack's outputs are written by
:mod:`culture.report.exports`). No real or realistic personal data is used.
"""

from culture.synth.actions import planted_actions
from culture.synth.organisation import (
    ChangeEvent,
    SynthConfig,
    SyntheticOrganisation,
    Truth,
    make_organisation,
    ordinal_alpha,
)
from culture.synth.tool_exports import WRITE_FORMATS, write_export

__all__ = ["WRITE_FORMATS", "ChangeEvent", "SynthConfig", "SyntheticOrganisation", "Truth",
           "make_organisation", "ordinal_alpha", "planted_actions", "write_export"]
