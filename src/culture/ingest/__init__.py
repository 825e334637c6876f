"""Reading what users bring: survey-tool exports, org charts, headcounts, QMS registers.

Every file becomes a grid of text cells first (:mod:`~culture.ingest.textgrid`),
then a survey export is recognised by its tool's layout (:mod:`~culture.ingest.formats`),
mapped onto the instrument, with the user's mapping where given
(:mod:`~culture.ingest.mapping`), and checked cell by cell
(:mod:`~culture.ingest.responses`); org and register tables go through
:mod:`~culture.ingest.registers`. Every row ends up accepted, rejected or a
duplicate, and every problem is reported at once by file, row and column without
quoting a cell. Nothing here writes anywhere: :mod:`culture.store` imports what
these readers return.

The mapping schema is documented in ``docs/mapping.md``. For a user's own export,
:mod:`~culture.ingest.drafting` proposes a mapping onto an instrument and
:mod:`~culture.ingest.instrument_draft` a starter instrument.
"""

from culture.ingest.drafting import MappingDraft, draft_mapping
from culture.ingest.formats import FORMATS, RawExport, SourceColumn, detect_format, load_export
from culture.ingest.instrument_draft import InstrumentDraft, draft_instrument
from culture.ingest.mapping import (
    IGNORE,
    MAPPING_KEYS,
    UNMAPPED_POLICIES,
    ColumnMapping,
    load_mapping,
    load_table_mapping,
)
from culture.ingest.registers import read_exposure, read_headcount, read_org, read_quality
from culture.ingest.responses import (
    PARTIAL_POLICIES,
    MappedResponses,
    read_responses,
    validate_responses,
)
from culture.ingest.textgrid import column_letter, decode_bytes, read_grid, sniff_delimiter

__all__ = [
    "FORMATS", "IGNORE", "MAPPING_KEYS", "PARTIAL_POLICIES", "UNMAPPED_POLICIES", "ColumnMapping",
    "InstrumentDraft", "MappedResponses", "MappingDraft", "RawExport", "SourceColumn",
    "column_letter", "decode_bytes", "detect_format", "draft_instrument", "draft_mapping",
    "load_export", "load_mapping", "load_table_mapping", "read_exposure", "read_grid",
    "read_headcount", "read_org", "read_quality", "read_responses", "sniff_delimiter",
    "validate_responses",
]
