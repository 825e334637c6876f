"""The quarterly report pack, built from a release bundle only (never from the store).

:mod:`~culture.report.pack` plans one job per document and unit brief and publishes
the pack atomically behind the leak gate; :mod:`~culture.report.execute` runs the
notebooks with papermill; :mod:`~culture.report.html` turns executed notebooks into
pages without code; :mod:`~culture.report.exports` writes the analysts' files;
:mod:`~culture.report.pdf` prints briefs. Notebook cells call :mod:`~culture.report.views`
(tables and text) and :mod:`~culture.report.plots` (figures), and check their
parameters with :mod:`~culture.report.params`.

Import rule: this package reads :mod:`culture.boundary.release`,
:mod:`culture.boundary.bundle` and :mod:`culture.boundary.leakgate` and nothing
else of the workbench. Exports load lazily, so a notebook importing ``views`` does
not start papermill.
"""

from culture._lazy import lazy_exports

_EXPORTS = {"PackResult": "pack", "build_pack": "pack", "plan_jobs": "pack",
            "check_parameters": "params", "validate_parameters": "params"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
