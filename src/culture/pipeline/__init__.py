"""The quarterly computation: the one place that joins the store and the boundary.

:mod:`~culture.pipeline.waves` loads a wave and publishes it safely against every
earlier release of it; :mod:`~culture.pipeline.packs` releases every wave of a
report, analyses released cells, writes the bundle and builds the pack.
"""

from culture.pipeline.packs import (
    compute_bundle,
    leak_inputs,
    package_versions,
    publish_wave,
    run_report,
)
from culture.pipeline.waves import (
    ReleasedWave,
    WaveData,
    WavePolicy,
    audit_wave,
    build_wave_release,
    default_cut,
    load_wave,
    membership,
    release_wave,
    release_waves,
    resolve_wave,
    synthetic_releases,
    wave_policy,
)

__all__ = ["publish_wave", "ReleasedWave", "WaveData", "WavePolicy", "audit_wave",
           "build_wave_release", "default_cut", "compute_bundle", "leak_inputs", "load_wave", "membership",
           "package_versions", "release_wave", "release_waves", "resolve_wave", "run_report",
           "synthetic_releases", "wave_policy"]
