"""The workspace store: everything a team has imported, kept so that nothing is lost or
silently changed.

A workspace is a folder with a DuckDB database (:mod:`~culture.store.schema`), a
read-only archive of every raw file (:mod:`~culture.store.archive`) and settings.
:class:`Workspace` opens it and imports files one transaction at a time
(:mod:`~culture.store.response_import`, :mod:`~culture.store.register_import`);
employee and response ids are stored only as keyed pseudonyms
(:mod:`~culture.store.pseudonym`). Respondent-level data lives here and nowhere
else: only :mod:`culture.pipeline` reads it to build a release.
"""

from culture.store.records import ImportReport, ReleaseRecord
from culture.store.workspace import Workspace, resolve_workspace_path

__all__ = ["ImportReport", "ReleaseRecord", "Workspace", "resolve_workspace_path"]
