-- Signed audit checkpoints (postgres). Keep in step with the other engine's 0005_checkpoints.sql.
-- The serving process signs one every SANAD_CHECKPOINT_INTERVAL seconds when the log has
-- grown; `sanad audit verify` checks every stored one against the log, and that every
-- entry older than one interval is covered by one signed soon after it was written (an
-- entry appended later behind the log's back, even with recomputed hashes, is not).
-- Rows are not audited themselves: each is a signature over the log, checked on its own.
CREATE TABLE audit_checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root_hash  TEXT NOT NULL,
    timestamp  BIGINT NOT NULL,
    kid        TEXT NOT NULL,
    signature  TEXT NOT NULL
);
