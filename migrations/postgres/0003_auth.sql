-- Who may do what (PostgreSQL). Keep in step with migrations/sqlite/0003_auth.sql.
-- Users sign in to the console; API tokens gain an owner; sessions and login throttling are
-- kept server-side so several instances agree; maker-checker requests wait in approvals.

-- Console users. Admins have no agency; everyone else works for exactly one.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'approver', 'officer')),
    agency_code    TEXT REFERENCES agencies(code),
    password_hash  TEXT NOT NULL,                 -- Argon2id PHC string
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT,
    CHECK ((role = 'admin') = (agency_code IS NULL))
);

-- Console sessions. Only a SHA-256 of the cookie's secret is stored; the CSRF token is
-- the synchronizer token of the session's forms.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins per account (`user:NAME`) and per address (`addr:IP`).
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Agency setting: revocations and re-issues need a second person (maker-checker).
ALTER TABLE agencies ADD COLUMN requires_approval BIGINT NOT NULL DEFAULT 0;

-- Who owns an API token: a user id, or 'cli' for tokens made on the command line.
ALTER TABLE api_tokens ADD COLUMN owner TEXT NOT NULL DEFAULT 'cli';

-- Maker-checker requests.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    agency_code      TEXT NOT NULL REFERENCES agencies(code),
    credential_id    TEXT NOT NULL REFERENCES credentials(id),
    action           TEXT NOT NULL CHECK (action IN ('revoke', 'reissue')),
    reason_code      TEXT NOT NULL,
    reason_text      TEXT,
    maker            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    checker          TEXT,
    decided_at       BIGINT,
    decision_reason  TEXT,
    result_id        TEXT                         -- the replacement credential of a re-issue
);
CREATE INDEX approvals_agency_state ON approvals (agency_code, state);
