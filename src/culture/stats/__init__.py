"""Pure statistics: functions of arrays and tidy frames, with the references they agree with.

Nothing here knows about the workspace, the org tree or releases; each function
names its formula and the R (or Stata) call it reproduces, and the tests hold the
published values. Modules import only :mod:`culture.errors` and :mod:`culture.frames`
(and one another):

- :mod:`~culture.stats.change`: change between waves (Welch, paired, overlapping
  samples, Newcombe), Benjamini-Hochberg, verdicts, leader-staff gaps;
- :mod:`~culture.stats.control_chart`: XmR charts with Western Electric rules;
- :mod:`~culture.stats.mixed`: random-intercept and trend mixed models;
- :mod:`~culture.stats.negbin`: NB2 regression with exposure and clustered errors;
- :mod:`~culture.stats.panel`: the unit x quarter panel of outcomes and lagged scores;
- :mod:`~culture.stats.linkage_models`: count, continuous and cross-lagged models;
- :mod:`~culture.stats.drivers`: relative weights and dominance analysis.
"""

from culture.errors import DriverInputError, ModelFitError, TrendInputError
from culture.stats.change import (
    CHANGE_LABELS,
    benjamini_hochberg,
    classify_change,
    newcombe_diff,
    overlap_change,
    paired_change,
    perception_gap,
    welch_change,
)
from culture.stats.control_chart import D2_MOVING_RANGE, individuals_chart
from culture.stats.drivers import (
    DominanceResult,
    RelativeWeights,
    dominance_analysis,
    relative_weights,
)
from culture.stats.linkage_models import (
    WORDING,
    CrossLaggedResult,
    LinkageResult,
    continuous_model,
    count_model,
    cross_lagged,
)
from culture.stats.mixed import MixedFit, MixedTrend, fit_random_intercept, mixed_trend
from culture.stats.negbin import NegBinFit, cluster_robust_cov, fit_negbin
from culture.stats.panel import CONTINUOUS_OUTCOMES, COUNT_OUTCOMES, build_panel

__all__ = [
    "CHANGE_LABELS", "CONTINUOUS_OUTCOMES", "COUNT_OUTCOMES", "D2_MOVING_RANGE", "WORDING",
    "CrossLaggedResult", "DominanceResult", "DriverInputError", "LinkageResult", "MixedFit",
    "MixedTrend", "ModelFitError", "NegBinFit", "RelativeWeights", "TrendInputError",
    "benjamini_hochberg", "build_panel", "classify_change", "cluster_robust_cov",
    "continuous_model", "count_model", "cross_lagged", "dominance_analysis", "fit_negbin",
    "fit_random_intercept", "individuals_chart", "mixed_trend", "newcombe_diff", "overlap_change",
    "paired_change", "perception_gap", "relative_weights", "welch_change",
]
