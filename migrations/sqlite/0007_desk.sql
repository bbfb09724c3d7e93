-- The registrar's desk (SQLite). Keep in step with migrations/postgres/0007_desk.sql.
-- Runs outside sqlx's transaction (see storage/migrate.rs) because rebuilding `users`
-- needs foreign keys off, which SQLite only allows between transactions.
PRAGMA foreign_keys = OFF;
BEGIN;

-- Officers act for any agency: they no longer need one. Admins still have none, registrars
-- and approvers still have exactly one. SQLite cannot change a CHECK in place: rebuild.
CREATE TABLE users_new (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'approver', 'officer')),
    agency_code    TEXT REFERENCES agencies(code),
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT,
    CHECK (role = 'officer' OR (role = 'admin') = (agency_code IS NULL))
);
INSERT INTO users_new (id, username, role, agency_code, password_hash, created_at, disabled_at)
    SELECT id, username, role, agency_code, password_hash, created_at, disabled_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Name search: both names folded by `domain::search::fold` (Arabic letter variants, marks,
-- tatweel and Latin case), kept beside the record and filled by Sanad on write. Rows from
-- before this migration are NULL until Sanad backfills them at start.
ALTER TABLE persons ADD COLUMN search_key TEXT;
CREATE INDEX persons_agency_created ON persons (agency_code, created_at);

-- Verifications per day, channel (`public` or `officer`), verifying agency (`public` for
-- the public, `none` for an officer without one) and outcome. Counted in memory on the hot path and added here every few seconds.
-- No personal data and no credential ids: only counts.
CREATE TABLE verification_counts (
    day       TEXT NOT NULL,
    channel   TEXT NOT NULL,
    verifier  TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (day, channel, verifier, outcome)
);

-- Reports group status changes by day.
CREATE INDEX status_changes_at ON status_changes (at);

COMMIT;
PRAGMA foreign_keys = ON;
