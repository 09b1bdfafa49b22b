-- The ledger, version 1. Times are unix milliseconds. JSON is kept as text
-- (checked to be JSON): the audit hash covers exactly the bytes written, and
-- both backends give back what they were given.

CREATE TABLE forge_ledger (
    schema_version INTEGER NOT NULL
) STRICT;

CREATE TABLE releases (
    id         TEXT PRIMARY KEY,
    content    TEXT NOT NULL CHECK (json_valid(content)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    release_id  TEXT REFERENCES releases (id),
    command     TEXT NOT NULL,
    environment TEXT NOT NULL,
    services    TEXT NOT NULL CHECK (json_valid(services)),
    state       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX runs_newest ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_environment ON runs (environment, created_at DESC);

CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    key         TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    outputs     TEXT CHECK (outputs IS NULL OR json_valid(outputs)),
    -- Verbatim, as the step reported it.
    error       TEXT,
    PRIMARY KEY (run_id, key)
) STRICT;

-- No reference to runs: a runner may take the lease before it records the
-- run, so that a refused run leaves nothing behind.
CREATE TABLE leases (
    scope      TEXT PRIMARY KEY,
    run        TEXT NOT NULL,
    owner      TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    before  TEXT NOT NULL CHECK (json_valid(before)),
    after   TEXT NOT NULL CHECK (json_valid(after)),
    hash    TEXT NOT NULL
) STRICT;
