"""Column names of the canonical frames that flow between modules.

One place to look up what a frame holds, so readers, the store, scoring and
aggregation agree without importing each other.

Canonical responses (wide, one row per response)
------------------------------------------------
``response_id``  str      the survey tool's response id (or ``row-<n>`` when it has none)
``respondent``   str      pseudonym of the employee (HMAC-SHA256 hex once in the store;
                          the raw employee id only inside ``synth`` before ingest)
``wave``         str      survey wave, ``YYYYQn`` (e.g. ``2026Q3``)
``unit_id``      str      the org unit the respondent belongs to directly
<demographic>    str      one column per instrument demographic (band code or its missing code)
``started_at``   datetime64[ns]  naive UTC, may be NaT
``submitted_at`` datetime64[ns]  naive UTC, may be NaT
``duration_s``   float64  seconds spent, NaN when unknown
``finished``     bool     the tool marked the response complete
``response_key`` int64    the stored version of the response (only when read from the store)
<item id>        float64  answer code on the instrument scale, NaN = not answered
<comment id>     object   free text or None

Org tree (one row per unit per wave)
------------------------------------
``wave``, ``unit_id``, ``parent_id`` (None for the root), ``name``, ``level``

Headcount: ``wave``, ``unit_id``, ``invited`` (people invited who belong directly to the unit)

Quality events (one row per register entry)
-------------------------------------------
``event_id``, ``kind`` (one of :data:`QUALITY_KINDS`), ``unit_id``, ``opened``, ``closed``,
``due``, ``severity``, ``detected`` (``internal`` or ``customer``)

Exposure: ``unit_id``, ``quarter`` (``YYYYQn``), ``exposure`` (e.g. units produced), ``exposure_kind``

Improvement actions (one row per action; workspace data, not respondent data)
------------------------------------------------------------------------------
``action_id``, ``unit_id``, ``construct`` (a construct or item id of the instrument),
``finding_id`` (or None), ``clause`` (ISO 9001 clause, e.g. ``10.2``), ``owner``,
``opened``, ``due``, ``closed`` (datetime64[ns]; ``closed`` NaT unless closed),
``status`` (one of :data:`ACTION_STATUSES`)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

RESPONSE_ID = "response_id"
RESPONDENT = "respondent"
WAVE = "wave"
UNIT = "unit_id"
PARENT = "parent_id"
STARTED = "started_at"
SUBMITTED = "submitted_at"
DURATION = "duration_s"
FINISHED = "finished"
VERSION = "response_key"  # the store's key of one response version (added when read back)

META_COLUMNS = (RESPONSE_ID, RESPONDENT, WAVE, UNIT, STARTED, SUBMITTED, DURATION, FINISHED)

QUALITY_KINDS = ("nonconformity", "audit_finding", "complaint", "capa")
# Columns that count respondents wherever a table is published or bundled: the leak gate
# checks every one against k (a count below k, 0 included, must never appear).
RESPONDENT_COUNTS = ("n", "n_before", "n_now", "paired_n", "leader_n", "staff_n")
# Outcomes of the unit x quarter quality panel (culture.stats.panel), as people read them.
OUTCOME_LABELS = {
    "nc_customer": "nonconformities found by customers",
    "nc_internal": "nonconformities found internally",
    "nc_total": "nonconformities",
    "audit_minor": "minor audit findings",
    "audit_major": "major audit findings",
    "audit_critical": "critical audit findings",
    "audit_total": "audit findings",
    "complaints": "customer complaints",
    "capa_closed": "CAPAs closed",
    "capa_days_to_close_mean": "days to close a CAPA",
    "capa_on_time_share": "share of CAPAs closed on time",
}
SEVERITIES = ("minor", "major", "critical")
ACTION_COLUMNS = ("action_id", "unit_id", "construct", "finding_id", "clause", "owner",
                  "opened", "due", "status", "closed")
ACTION_STATUSES = ("open", "closed", "cancelled")

# Verdicts (culture.analysis.verdicts sets them; pages show the plain words).
REAL = "significant and meaningful"
SMALL = "significant, small"
NOISE = "not significant"
UNTESTED = "not tested"
ASSOCIATED = "association"
NOT_ASSOCIATED = "no association beyond chance"
PLAIN = {REAL: "real change", SMALL: "small change", NOISE: "no real change",
         UNTESTED: "not tested", ASSOCIATED: "association", NOT_ASSOCIATED: "not beyond chance"}
PLAIN_GAP = {REAL: "real gap", SMALL: "small gap", NOISE: "no real gap", UNTESTED: "not tested"}

WAVE_RE = re.compile(r"^(?P<year>\d{4})Q(?P<q>[1-4])$")


def wave_index(wave: str) -> int:
    """Quarters since year 0, so consecutive waves differ by 1 (``2026Q1`` -> 8104)."""
    m = WAVE_RE.match(wave)
    if not m:
        raise ValueError(f"wave {wave!r} is not of the form YYYYQn, e.g. 2026Q3")
    return int(m["year"]) * 4 + int(m["q"]) - 1


def wave_from_index(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def shift_wave(wave: str, quarters: int) -> str:
    return wave_from_index(wave_index(wave) + quarters)


SOURCE_ROW = "source_row"


@dataclass(frozen=True)
class ParsedResponses:
    """What ``io`` + ``validate`` hand to the store for one response export.

    Row accounting invariant (checked by the store before it writes)::

        n_rows == len(accepted) + rejected[SOURCE_ROW].nunique() + len(duplicates)

    Attributes
    ----------
    source : the file path as given by the user.
    format : the reader used (``qualtrics``, ``surveymonkey``, ``msforms``, ``googleforms``,
        ``limesurvey``, ``spss``, ``csv``, ``xlsx``).
    accepted : canonical responses (see module doc) plus ``source_row``; ``respondent`` holds
        the raw employee id from the file (or None when the survey is anonymous): the store
        pseudonymises it and ``response_id`` before anything is written.
    rejected : one row per problem: ``source_row``, ``column``, ``kind`` (``excluded`` for
        rows that are not real responses, e.g. Qualtrics previews or spam; ``invalid`` for
        bad data), ``reason`` (never contains the cell's content).
    duplicates : ``source_row``, ``duplicate_of`` (the source_row kept): repeated response ids.
    dropped_columns : identifying metadata columns dropped at the boundary (names only).
    n_rows : data records physically in the file after its header rows: one per CSV/TSV
        record (line breaks inside a quoted cell do not start a record), XLSX row or SAV
        case. Fully blank lines or rows (every cell empty or spaces, e.g. an exporter's
        blank last line or ``,,,``) are not records and are not counted. A record that
        cannot be taken whole (fewer or more fields than the header row, a file cut off
        inside a row) makes the whole file an error rather than a row, so the invariant
        above always counts physical records.
    """

    source: str
    format: str
    accepted: pd.DataFrame
    rejected: pd.DataFrame
    duplicates: pd.DataFrame
    dropped_columns: tuple[str, ...]
    n_rows: int

    @property
    def invalid_rows(self) -> int:
        bad = self.rejected[self.rejected["kind"] == "invalid"]
        return int(bad[SOURCE_ROW].nunique())

    def accounted(self) -> bool:
        return self.n_rows == (len(self.accepted) + int(self.rejected[SOURCE_ROW].nunique())
                               + len(self.duplicates))
