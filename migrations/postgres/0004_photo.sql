-- Person photos (PostgreSQL). Keep in step with migrations/sqlite/0004_photo.sql.
-- The bytes are the normalised JPEG Sanad re-encoded from the upload (at most 600 px on the
-- long side, no EXIF or other metadata), never the file as sent. NULL: no photo yet.
ALTER TABLE persons ADD COLUMN photo BYTEA;
