-- Events between agencies (SQLite). Keep in step with migrations/postgres/0009_events.sql.

-- The outbox: one row per issuance, status change, re-issue and key event, written in the
-- transaction of the change itself, so an event exists exactly when its change does. The id
-- is the one global order (every write transaction first takes the audit head's row lock,
-- so ids are handed out in commit order). No personal data: ids, codes and times only.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    type           TEXT NOT NULL,      -- credential.issued, credential.suspended, ... key.revoked
    agency_code    TEXT NOT NULL,      -- the issuing agency (who may hear it, see event_*)
    credential_id  TEXT,               -- NULL for key events
    kind           TEXT,
    status         TEXT,
    reason_code    TEXT,
    superseded_by  TEXT,
    supersedes     TEXT,
    kid            TEXT,
    at             BIGINT NOT NULL
);
CREATE INDEX events_agency ON events (agency_code, id);
CREATE INDEX events_credential ON events (credential_id, id);

-- "Tell my agency about this credential of another agency" (a relying system's watch).
CREATE TABLE event_watches (
    agency_code    TEXT NOT NULL REFERENCES agencies(code),
    credential_id  TEXT NOT NULL REFERENCES credentials(id),
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (agency_code, credential_id)
);

-- An admin's grant: `agency_code` hears every event of `feed_agency`.
CREATE TABLE event_grants (
    agency_code    TEXT NOT NULL REFERENCES agencies(code),
    feed_agency    TEXT NOT NULL REFERENCES agencies(code),
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    PRIMARY KEY (agency_code, feed_agency)
);

-- Webhook endpoints of relying systems. `cursor` is the last event id fanned out into
-- webhook_deliveries; `disabled_reason` is the notice shown when Sanad gave up on it.
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    agency_code      TEXT NOT NULL REFERENCES agencies(code),
    url              TEXT NOT NULL,
    event_types      TEXT NOT NULL,    -- comma-separated; empty = every type
    agencies         TEXT NOT NULL,    -- comma-separated issuing agencies; empty = all it may hear
    status           TEXT NOT NULL,    -- active | disabled
    disabled_at      BIGINT,
    disabled_reason  TEXT,
    cursor           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL
);

-- One row per (endpoint, event): the delivery log. Times in milliseconds (retry timing).
-- A worker leases a due row (lease_until) before posting it, so one instance makes each
-- attempt; a crashed worker's lease simply expires.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id),
    event_id        BIGINT NOT NULL REFERENCES events(id),
    order_key       TEXT NOT NULL,     -- credential id, or the kid of a key event
    state           TEXT NOT NULL,     -- pending | delivered | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    first_attempt_ms BIGINT,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms  BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_ms    BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_id);

-- Holder notifications (SMS). The phone number is read from the person record when the
-- message is sent and never copied here.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BIGINT NOT NULL UNIQUE REFERENCES events(id),
    person_id       TEXT NOT NULL REFERENCES persons(id),
    template        TEXT NOT NULL,     -- issued | suspended | reinstated | revoked | reissued
    state           TEXT NOT NULL,     -- pending | sent | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    first_attempt_ms BIGINT,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms  BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_ms         BIGINT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_ms);

-- Named cursors over the outbox (the notifier's fan-out).
CREATE TABLE event_cursors (
    name     TEXT PRIMARY KEY,
    last_id  BIGINT NOT NULL
);
INSERT INTO event_cursors (name, last_id) VALUES ('notifications', 0);

-- A beneficiary's phone (E.164, personal data: never logged) and message language.
ALTER TABLE persons ADD COLUMN phone TEXT;
ALTER TABLE persons ADD COLUMN language TEXT NOT NULL DEFAULT 'ar';
