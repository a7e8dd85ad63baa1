-- Run by the postgres image's entrypoint (mounted at /docker-entrypoint-initdb.d/) once, when the
-- data directory is empty, as POSTGRES_USER in POSTGRES_DB, with ON_ERROR_STOP.
--
-- The analysts' table, exactly as they depend on it. The first `etl run` (or `etl init-db`) applies
-- schema migration 001 (src/sink/migrations/001-initial.ts), which runs this same IF NOT EXISTS
-- statement and adds the etl schema (ledger, rejected messages, runs), so this file only makes the table
-- visible before the first run.
CREATE TABLE IF NOT EXISTS user_logins(
  user_id varchar(128), device_type varchar(32), masked_ip varchar(256),
  masked_device_id varchar(256), locale varchar(32), app_version integer, create_date date);
