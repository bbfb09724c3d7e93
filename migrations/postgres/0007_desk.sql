-- The registrar's desk (PostgreSQL). Keep in step with migrations/sqlite/0007_desk.sql.

-- Officers act for any agency: they no longer need one. Admins still have none, registrars
-- and approvers still have exactly one.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_check;
ALTER TABLE users ADD CONSTRAINT users_role_agency
    CHECK (role = 'officer' OR (role = 'admin') = (agency_code IS NULL));

-- Name search: both names folded by `domain::search::fold`, filled by Sanad on write;
-- older rows are backfilled at start.
ALTER TABLE persons ADD COLUMN search_key TEXT;
CREATE INDEX persons_agency_created ON persons (agency_code, created_at);

-- Verifications per day, channel, verifying agency and outcome (counts only).
CREATE TABLE verification_counts (
    day       TEXT NOT NULL,
    channel   TEXT NOT NULL,
    verifier  TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (day, channel, verifier, outcome)
);

CREATE INDEX status_changes_at ON status_changes (at);
