-- Bulk issuance (issue 13). Keep in step with the other engine's 0011_bulk.sql.

-- A caller's request key per credential: re-running the same file issues nothing twice.
-- NULL for credentials issued one by one (NULLs never collide in a unique index).
ALTER TABLE credentials ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX credentials_agency_request_key ON credentials (agency_code, request_key);

-- The audit entry (its seq) of the bulk batch that created the row; `sanad audit verify`
-- recomputes each batch entry's item hash from these rows.
ALTER TABLE credentials ADD COLUMN bulk_batch BIGINT;
CREATE INDEX credentials_bulk_batch ON credentials (bulk_batch);
ALTER TABLE persons ADD COLUMN bulk_batch BIGINT;
CREATE INDEX persons_bulk_batch ON persons (bulk_batch);

-- Bulk jobs started through the API, with their counts.
CREATE TABLE bulk_jobs (
    id           TEXT PRIMARY KEY,
    agency_code  TEXT NOT NULL REFERENCES agencies(code),
    created_by   TEXT NOT NULL,
    format       TEXT NOT NULL CHECK (format IN ('csv', 'ndjson')),
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    start_seq    BIGINT NOT NULL,              -- audit head when the job started
    rows_total   BIGINT NOT NULL DEFAULT 0,
    issued       BIGINT NOT NULL DEFAULT 0,
    skipped      BIGINT NOT NULL DEFAULT 0,    -- request key already issued earlier
    failed       BIGINT NOT NULL DEFAULT 0,
    error        TEXT,                         -- why the whole job stopped, if it did
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);

-- One row per input row of an API job: what became of it.
CREATE TABLE bulk_results (
    job_id         TEXT NOT NULL REFERENCES bulk_jobs(id),
    row_no         BIGINT NOT NULL,
    request_key    TEXT,
    credential_id  TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('issued', 'skipped', 'failed')),
    error          TEXT,
    PRIMARY KEY (job_id, row_no)
);
