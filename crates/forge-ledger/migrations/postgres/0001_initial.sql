-- The ledger, version 1. Times are unix milliseconds. JSON is kept as text
-- (checked to be JSON by a cast): the audit hash covers exactly the bytes
-- written, and both backends give back what they were given.

CREATE TABLE forge_ledger (
    schema_version BIGINT NOT NULL
);

CREATE TABLE releases (
    id         TEXT PRIMARY KEY,
    content    TEXT NOT NULL CHECK (content::jsonb IS NOT NULL),
    created_at BIGINT NOT NULL
);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    release_id  TEXT REFERENCES releases (id),
    command     TEXT NOT NULL,
    environment TEXT NOT NULL,
    services    TEXT NOT NULL CHECK (services::jsonb IS NOT NULL),
    state       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX runs_newest ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_environment ON runs (environment, created_at DESC);

CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    key         TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    outputs     TEXT CHECK (outputs IS NULL OR outputs::jsonb IS NOT NULL),
    -- Verbatim, as the step reported it.
    error       TEXT,
    PRIMARY KEY (run_id, key)
);

-- No reference to runs: a runner may take the lease before it records the
-- run, so that a refused run leaves nothing behind.
CREATE TABLE leases (
    scope      TEXT PRIMARY KEY,
    run        TEXT NOT NULL,
    owner      TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit (
    seq     BIGINT PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    before  TEXT NOT NULL CHECK (before::jsonb IS NOT NULL),
    after   TEXT NOT NULL CHECK (after::jsonb IS NOT NULL),
    hash    TEXT NOT NULL
);
