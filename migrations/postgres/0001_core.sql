-- Sanad core schema (PostgreSQL). Keep in step with migrations/sqlite/0001_core.sql: the same
-- tables and columns, only the types that differ between the two engines differ here.
-- Times are seconds since the Unix epoch (BIGINT), so both engines compare them the same way.

-- Agencies issuing credentials in this deployment.
CREATE TABLE agencies (
    code        TEXT PRIMARY KEY,
    name_ar     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    base_url    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

-- Public halves of signing keys and their lifecycle. Private keys are files in keys/, never rows.
CREATE TABLE signing_keys (
    kid               TEXT PRIMARY KEY,           -- RFC 7638 thumbprint
    short_kid         TEXT NOT NULL UNIQUE,       -- truncated thumbprint printed in QR tokens
    agency_code       TEXT NOT NULL REFERENCES agencies(code),
    public_x          TEXT NOT NULL,              -- JWK x (base64url)
    status            TEXT NOT NULL CHECK (status IN ('active', 'retired', 'revoked')),
    created_at        BIGINT NOT NULL,
    retired_at        BIGINT,
    revoked_at        BIGINT,
    revocation_reason TEXT
);

-- Beneficiaries' person records. national_id is personal data: never logged, never in a QR.
CREATE TABLE persons (
    id            TEXT PRIMARY KEY,
    agency_code   TEXT NOT NULL REFERENCES agencies(code),
    name_ar       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    national_id   TEXT NOT NULL,
    programme     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX persons_agency_nid ON persons (agency_code, national_id);

-- Status lists (IETF Token Status List, 2 bits an entry). Entries live in credentials.
CREATE TABLE status_lists (
    id          BIGINT PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Credentials of both kinds. The signed token is kept so the QR can be rendered again.
CREATE TABLE credentials (
    id                  TEXT PRIMARY KEY,
    agency_code         TEXT NOT NULL REFERENCES agencies(code),
    kind                TEXT NOT NULL CHECK (kind IN ('digital_id', 'document')),
    person_id           TEXT REFERENCES persons(id),
    kid                 TEXT NOT NULL REFERENCES signing_keys(kid),
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked', 'superseded')),
    status_reason_code  TEXT,
    status_reason_text  TEXT,
    status_changed_at   BIGINT NOT NULL,
    superseded_by       TEXT,
    supersedes          TEXT,
    issued_at           BIGINT NOT NULL,
    name_printed        TEXT NOT NULL,
    status_list         BIGINT NOT NULL REFERENCES status_lists(id),
    status_index        BIGINT NOT NULL,
    token               TEXT NOT NULL,
    subject_json        TEXT NOT NULL,            -- what was signed about the subject, as JSON
    doc_sha256          TEXT,                     -- hex, documents only
    doc_file            BYTEA,                     -- the uploaded document, when kept
    doc_media_type      TEXT,
    created_by          TEXT NOT NULL,
    UNIQUE (status_list, status_index)
);
CREATE INDEX credentials_agency_issued ON credentials (agency_code, issued_at);
CREATE INDEX credentials_person ON credentials (person_id);

-- Every status change, issuance included, in commit order: the feed that keeps every
-- instance's in-memory status view current.
CREATE TABLE status_changes (
    seq            BIGSERIAL PRIMARY KEY,
    credential_id  TEXT NOT NULL REFERENCES credentials(id),
    status_list    BIGINT NOT NULL,
    status_index   BIGINT NOT NULL,
    from_status    TEXT,                          -- NULL at issuance
    to_status      TEXT NOT NULL,
    reason_code    TEXT,
    reason_text    TEXT,
    superseded_by  TEXT,
    actor          TEXT NOT NULL,
    at             BIGINT NOT NULL
);

-- API tokens for systems. Only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    agency_code   TEXT REFERENCES agencies(code),
    token_hash    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,                  -- comma-separated
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

-- Append-only, hash-chained audit log. Details never hold personal data.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- The head of the audit chain. Every state-changing transaction updates this row first,
-- which serialises writers (a row lock in PostgreSQL, the write lock in SQLite) so the chain
-- and the status feed are in commit order.
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
