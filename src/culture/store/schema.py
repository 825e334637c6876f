"""The workspace's files and database schema (``schema_version`` 4).

Tables: ``imports`` (the ledger), ``responses`` (one row per response *version*:
``version``, ``current``, ``superseded_by``), ``answers`` (long: ``response_key,
item_id, value``; unanswered items are not stored), ``texts`` (demographics and
comments, long), ``response_columns`` (the columns each import carried, to rebuild
the wide frame), ``rejections``, ``org_units``, ``headcount``, ``quality_events``,
``exposure``, ``releases``, ``release_members``, ``withdrawals``, ``access_list`` (who
receives which part of the report pack, per wave: :mod:`culture.store.access_store`),
``actions`` (improvement actions, every entry kept: :mod:`culture.store.actions_store`),
``meta``, ``schema_version``. :data:`MIGRATIONS` brings older workspaces up to date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from culture import frames as F

WORKSPACE_ENV = "CULTURE_WORKSPACE"
DEFAULT_WORKSPACE = "data"
DB_NAME = "culture.duckdb"
SETTINGS_NAME = "settings.json"
ARCHIVE_DIR = "archive"
RELEASES_DIR = "releases"  # stored releases: releases/<wave>/<release_id>/
DEFAULT_KEY_FILE = "secrets/pseudonym.key"
SCHEMA_VERSION = 4
WORKSPACE_FORMAT = "culture-workspace"

PSEUDONYM_RE = re.compile(r"^[0-9a-f]{64}$")

# ----------------------------------------------------------------------------- schema

# The access list (schema 3): one row per person and unit, per wave (latest import wins).
ACCESS_TABLE = """
CREATE TABLE IF NOT EXISTS access_list (
    import_id INTEGER NOT NULL, wave VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
    email VARCHAR NOT NULL, role VARCHAR NOT NULL, unit_id VARCHAR, scope VARCHAR NOT NULL,
    source_row INTEGER NOT NULL);
"""

# Improvement actions (schema 4): one row per entry (an import row, an added action, a
# closing); the latest entry of an action id is the action's state, earlier ones its history.
ACTIONS_TABLE = """
CREATE TABLE IF NOT EXISTS actions (
    entry_id INTEGER NOT NULL, import_id INTEGER, recorded TIMESTAMP NOT NULL,
    origin VARCHAR NOT NULL, action_id VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
    construct VARCHAR NOT NULL, finding_id VARCHAR, clause VARCHAR NOT NULL,
    owner VARCHAR NOT NULL, opened TIMESTAMP NOT NULL, due TIMESTAMP, status VARCHAR NOT NULL,
    closed TIMESTAMP, source_row INTEGER);
"""

SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied TIMESTAMP NOT NULL);
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE imports (
    import_id INTEGER PRIMARY KEY,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    archived_as VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    instrument_id VARCHAR,
    instrument_version VARCHAR,
    wave VARCHAR,
    quality_kind VARCHAR,
    started TIMESTAMP NOT NULL,
    finished TIMESTAMP NOT NULL,
    rows_in INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    new INTEGER NOT NULL,
    superseded INTEGER NOT NULL,
    dropped_columns VARCHAR NOT NULL,
    UNIQUE (sha256, kind, wave),
    CHECK (rows_in = accepted + rejected + duplicates),
    CHECK (accepted = new + superseded)
);
CREATE TABLE responses (
    response_key BIGINT PRIMARY KEY,
    import_id INTEGER NOT NULL,
    instrument_id VARCHAR NOT NULL,
    instrument_version VARCHAR NOT NULL,
    wave VARCHAR NOT NULL,
    response_id VARCHAR NOT NULL,
    respondent VARCHAR,
    unit_id VARCHAR,
    started_at TIMESTAMP,
    submitted_at TIMESTAMP,
    duration_s DOUBLE,
    finished BOOLEAN,
    source_row INTEGER NOT NULL,
    version INTEGER NOT NULL,
    current BOOLEAN NOT NULL,
    superseded_by INTEGER,
    withdrawn_by INTEGER,
    UNIQUE (instrument_id, wave, response_id, version)
);
CREATE TABLE answers (response_key BIGINT NOT NULL, item_id VARCHAR NOT NULL, value DOUBLE NOT NULL);
CREATE TABLE texts (response_key BIGINT NOT NULL, column_id VARCHAR NOT NULL, value VARCHAR NOT NULL);
CREATE TABLE response_columns (
    import_id INTEGER NOT NULL, column_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    position INTEGER NOT NULL);
CREATE TABLE rejections (
    import_id INTEGER NOT NULL, source_row INTEGER NOT NULL, column_id VARCHAR,
    kind VARCHAR NOT NULL, reason VARCHAR NOT NULL);
CREATE TABLE org_units (
    import_id INTEGER NOT NULL, wave VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
    parent_id VARCHAR, name VARCHAR, level INTEGER);
CREATE TABLE headcount (
    import_id INTEGER NOT NULL, wave VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
    invited INTEGER NOT NULL);
CREATE TABLE quality_events (
    import_id INTEGER NOT NULL, event_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    unit_id VARCHAR NOT NULL, opened TIMESTAMP, closed TIMESTAMP, due TIMESTAMP,
    severity VARCHAR, detected VARCHAR);
CREATE TABLE exposure (
    import_id INTEGER NOT NULL, unit_id VARCHAR NOT NULL, quarter VARCHAR NOT NULL,
    exposure DOUBLE NOT NULL, exposure_kind VARCHAR);
CREATE TABLE releases (
    release_id INTEGER PRIMARY KEY, wave VARCHAR NOT NULL, created TIMESTAMP NOT NULL,
    thresholds VARCHAR NOT NULL, demographic VARCHAR, instrument VARCHAR, inputs_key VARCHAR,
    stored_as VARCHAR, sha256 VARCHAR, org VARCHAR, audit VARCHAR);
CREATE TABLE release_members (
    release_id INTEGER NOT NULL, respondent VARCHAR NOT NULL, response_key BIGINT);
CREATE TABLE withdrawals (
    withdrawal_id INTEGER PRIMARY KEY, wave VARCHAR NOT NULL, created TIMESTAMP NOT NULL,
    reason VARCHAR NOT NULL, responses INTEGER NOT NULL);
""" + ACCESS_TABLE + ACTIONS_TABLE

# Schema 1 -> 2: releases carry the stored release, its org tree and members with the
# response version each one used (releases recorded under schema 1 have none of these).
MIGRATIONS = {
    1: """
ALTER TABLE releases ADD COLUMN demographic VARCHAR;
ALTER TABLE releases ADD COLUMN instrument VARCHAR;
ALTER TABLE releases ADD COLUMN inputs_key VARCHAR;
ALTER TABLE releases ADD COLUMN stored_as VARCHAR;
ALTER TABLE releases ADD COLUMN sha256 VARCHAR;
ALTER TABLE releases ADD COLUMN org VARCHAR;
ALTER TABLE releases ADD COLUMN audit VARCHAR;
CREATE TABLE release_members (
    release_id INTEGER NOT NULL, respondent VARCHAR NOT NULL, response_key BIGINT);
INSERT INTO release_members SELECT release_id, respondent, NULL FROM release_respondents;
DROP TABLE release_respondents;
DROP TABLE release_cells;
ALTER TABLE responses ADD COLUMN withdrawn_by INTEGER;
CREATE TABLE withdrawals (
    withdrawal_id INTEGER PRIMARY KEY, wave VARCHAR NOT NULL, created TIMESTAMP NOT NULL,
    reason VARCHAR NOT NULL, responses INTEGER NOT NULL);
""",
    # Schema 2 -> 3: the access list of the recipient packs (``culture access import``).
    2: ACCESS_TABLE,
    # Schema 3 -> 4: improvement actions (``culture ingest actions``, ``culture actions``).
    3: ACTIONS_TABLE,
}

RESPONSE_META = (F.RESPONSE_ID, F.RESPONDENT, F.UNIT, F.STARTED, F.SUBMITTED, F.DURATION,
                  F.FINISHED)


@dataclass(frozen=True)
class TableSpec:
    """How one non-response register is stored: columns with SQL types and keys."""

    kind: str
    table: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]          # unique within one file
    required: tuple[str, ...]     # must be present and non-null


TABLES = {
    "org": TableSpec("org", "org_units", (
        (F.WAVE, "VARCHAR"), (F.UNIT, "VARCHAR"), (F.PARENT, "VARCHAR"), ("name", "VARCHAR"),
        ("level", "INTEGER")), key=(F.UNIT,), required=(F.UNIT,)),
    "headcount": TableSpec("headcount", "headcount", (
        (F.WAVE, "VARCHAR"), (F.UNIT, "VARCHAR"), ("invited", "INTEGER")),
        key=(F.UNIT,), required=(F.UNIT, "invited")),
    "quality": TableSpec("quality", "quality_events", (
        ("event_id", "VARCHAR"), ("kind", "VARCHAR"), (F.UNIT, "VARCHAR"), ("opened", "TIMESTAMP"),
        ("closed", "TIMESTAMP"), ("due", "TIMESTAMP"), ("severity", "VARCHAR"),
        ("detected", "VARCHAR")), key=("kind", "event_id"), required=("event_id", "kind", F.UNIT)),
    "exposure": TableSpec("exposure", "exposure", (
        (F.UNIT, "VARCHAR"), ("quarter", "VARCHAR"), ("exposure", "DOUBLE"),
        ("exposure_kind", "VARCHAR")), key=(F.UNIT, "quarter", "exposure_kind"),
        required=(F.UNIT, "quarter", "exposure")),
}
