"""What the store returns about its own work: import reports and release records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from culture.errors import Problem

# ----------------------------------------------------------------------------- results

# What a missing id column means, said in every import summary (docs/your-own-survey.md).
NO_ID = {
    "response id": "none found (each row is one response, known by its row in this file)",
    "respondent id": "none (an anonymous survey: people cannot be followed across waves, so "
                     "changes are compared between groups, not within people; if the export has an "
                     "employee id column, map it to `respondent`, docs/mapping.md)",
}


@dataclass(frozen=True)
class ImportReport:
    """What one import did (or, for ``dry_run``/``no_op``, would do / did not need to do).

    Row accounting: ``rows_in = accepted + rejected + duplicates + conflicts``, with
    ``accepted = new + superseded``; ``conflicts`` is 0 for every import that was
    written. ``duplicates`` counts repeats within the file plus responses already
    stored unchanged (``already_stored``). ``problems`` are what stops the import
    (empty when it was, or could be, written).
    """

    import_id: int | None
    kind: str
    source: str
    sha256: str
    format: str
    wave: str | None = None
    instrument: str | None = None
    rows_in: int = 0
    accepted: int = 0
    rejected: int = 0
    excluded: int = 0
    duplicates: int = 0
    already_stored: int = 0
    new: int = 0
    superseded: int = 0
    conflicts: int = 0
    dropped_columns: tuple[str, ...] = ()
    id_columns: tuple[tuple[str, str | None], ...] = ()  # (what, "letter (header)" or None)
    no_op: bool = False
    dry_run: bool = False
    problems: tuple[Problem, ...] = ()
    # rows set aside by the reader, by position and reason only (never a cell's content):
    # source_row, column, kind, reason / source_row, duplicate_of
    set_aside: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    repeats: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing stops the import."""
        return not self.problems

    def summary(self) -> str:
        what = ", ".join(x for x in (self.kind, self.instrument, self.wave and f"wave {self.wave}")
                         if x)
        if self.no_op:
            return (f"{self.source} ({what}) was already imported as import #{self.import_id} "
                    f"(sha256 {self.sha256[:12]}...); nothing changed.")
        head = (f"Dry run of {self.source} ({what}): nothing written." if self.dry_run
                else f"Imported {self.source} ({what}) as import #{self.import_id}.")
        lines = [head,
                 f"  rows in {self.rows_in} = accepted {self.accepted} (new {self.new}, "
                 f"superseding {self.superseded}) + rejected {self.rejected} "
                 f"(excluded {self.excluded}) + duplicates {self.duplicates} "
                 f"({self.duplicates - self.already_stored} in file, {self.already_stored} "
                 f"already stored)" + (f" + conflicts {self.conflicts}" if self.conflicts else "")]
        for what, column in self.id_columns:
            lines.append(f"  {what}: column {column}" if column else f"  {what}: {NO_ID[what]}")
        if self.dropped_columns:
            lines.append(f"  identifying columns dropped: {', '.join(self.dropped_columns)}")
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s) stop this import:")
            lines += [f"    - {p}" for p in self.problems[:20]]
            if len(self.problems) > 20:
                lines.append(f"    ... and {len(self.problems) - 20} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class ReleaseRecord:
    """One recorded release of a wave (see :mod:`culture.store.release_ledger`).

    ``members``: ``respondent`` (pseudonym) and ``response_key`` (the stored response
    version the release used). ``stored_as`` is the folder of the stored release and
    ``org`` the org tree it used; both are None / empty for releases recorded before
    schema 2 (their members carry no versions).
    """

    release_id: int
    wave: str
    created: datetime
    thresholds: Mapping[str, int]
    demographic: str | None
    instrument: str | None
    inputs_key: str | None
    stored_as: Path | None
    sha256: str | None
    org: pd.DataFrame = field(repr=False)
    members: pd.DataFrame = field(repr=False)
    audit: Mapping[str, object] = field(default_factory=dict, repr=False)

    @property
    def legacy(self) -> bool:
        """Recorded before schema 2: what it showed cannot be rebuilt exactly."""
        return self.stored_as is None
