-- Holder links (SQLite). Keep in step with migrations/postgres/0008_holder_links.sql.
-- A holder link is a private URL (`/h/{secret}/`) that opens a beneficiary's card on their
-- phone. Only the SHA-256 of the secret is stored, so a copy of the database cannot open a
-- card. One link per credential: creating a new one replaces the old (the old URL stops
-- working at once); revoking deletes the row. Both are audited.
CREATE TABLE holder_links (
    credential_id TEXT PRIMARY KEY REFERENCES credentials(id),
    secret_hash   TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL
);
