-- Federation: agencies (and through them, keys) imported from another Sanad deployment's
-- trust list. '' marks this deployment's own agencies; otherwise the other deployment's
-- base URL, which is where their status lists are read from.
ALTER TABLE agencies ADD COLUMN origin TEXT NOT NULL DEFAULT '';
