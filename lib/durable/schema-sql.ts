/**
 * The SQL that installs a durable log: versioned, idempotent (safe to run again), in a schema the user names.
 * `durableSchemaSql()` is what `npx rxpg sql durable` prints and what `log.ensureSchema()` runs; docs/durable.md
 * shows the same text (a spec compares them, so the page cannot drift).
 *
 * The schema name is always written as a quoted identifier; no value is ever interpolated.
 */
import { quoteIdentifier } from '../index.js'

/** The version of the tables and functions below; stored in `durable_meta.version` and checked on open. */
export const DURABLE_SCHEMA_VERSION = 1

export const DEFAULT_SCHEMA = 'rxpg'

/**
 * Checks a schema name as PostgreSQL keeps it: it cuts a name longer than 63 bytes, so two logs with long names
 * that begin alike would silently share a schema.
 */
export function assertSchemaName(schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || schema === '' || schema.includes('\0') || Buffer.byteLength(schema) > 63) {
    const got = typeof schema === 'string' ? `${JSON.stringify(schema)} (${Buffer.byteLength(schema)} bytes)` : typeof schema
    throw new RangeError(`rxpg: schema must be a name of 1 to 63 bytes of UTF-8, without NUL; got ${got}`)
  }
}

/** The full installation script for a durable log in `schema` (default `rxpg`). */
export function durableSchemaSql(options: { readonly schema?: string | undefined } = {}): string {
  const schema = options.schema ?? DEFAULT_SCHEMA
  assertSchemaName(schema)
  const s = quoteIdentifier(schema)
  return `-- rxpg durable channels, schema version ${DURABLE_SCHEMA_VERSION}. Idempotent: safe to run again.
CREATE SCHEMA IF NOT EXISTS ${s};

-- One row: the schema version, this log's id (in every token, so tokens of another log are refused), the
-- epoch (raised when the database is found restored, so positions are never reused), and what restores are
-- recognised by: the cluster's system identifier and the highest transaction id counter seen.
CREATE TABLE IF NOT EXISTS ${s}.durable_meta (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL,
  log_id text NOT NULL,
  epoch integer NOT NULL,
  system_id text,
  seen_xid bigint NOT NULL
);
INSERT INTO ${s}.durable_meta (version, log_id, epoch, system_id, seen_xid)
VALUES (${DURABLE_SCHEMA_VERSION}, substr(md5(random()::text || clock_timestamp()::text), 1, 10), 1, NULL, txid_snapshot_xmax(txid_current_snapshot()))
ON CONFLICT (singleton) DO NOTHING;

CREATE SEQUENCE IF NOT EXISTS ${s}.durable_log_id;

-- The log: append-only. A row's position is (epoch, tx, id); tx is the writing transaction's 64-bit id.
-- Readers take only rows of transactions below their snapshot's horizon, so a row that commits late can
-- never fall behind a reader. Partitioned by time so that retention drops whole partitions.
CREATE TABLE IF NOT EXISTS ${s}.durable_log (
  id bigint NOT NULL DEFAULT nextval('${s.replaceAll("'", "''")}.durable_log_id'),
  -- A constant (evaluated once per statement, not per row): durable_epoch() sets it anew when it raises the epoch.
  epoch integer NOT NULL DEFAULT 1,
  tx bigint NOT NULL DEFAULT txid_current(),
  channel text NOT NULL,
  part smallint NOT NULL,
  key text,
  value json NOT NULL,
  appended_at timestamptz NOT NULL DEFAULT statement_timestamp()
) PARTITION BY RANGE (appended_at);
-- Created only when missing: CREATE INDEX IF NOT EXISTS takes its SHARE lock on the log before it looks, and
-- would hold every append (and every change feed's writer) until a migration that runs this again commits.
DO $index$
BEGIN
  IF to_regclass('${s.replaceAll("'", "''")}.durable_log_position') IS NULL THEN
    CREATE INDEX durable_log_position ON ${s}.durable_log (channel, epoch, tx, id);
  END IF;
END
$index$;
-- Catches rows when no partition covers their time (maintenance has not run); emptied by retention.
CREATE TABLE IF NOT EXISTS ${s}.durable_log_default PARTITION OF ${s}.durable_log DEFAULT;

-- The time partitions maintenance created (durable_maintain), oldest first.
CREATE TABLE IF NOT EXISTS ${s}.durable_partitions (
  name text PRIMARY KEY,
  starts timestamptz NOT NULL,
  ends timestamptz NOT NULL
);

-- Per channel: the number of partitions consumer groups split it into (by a hash of the message key). Fixed
-- once the channel is first used.
CREATE TABLE IF NOT EXISTS ${s}.durable_channels (
  channel text PRIMARY KEY,
  partitions integer NOT NULL CHECK (partitions BETWEEN 1 AND 1024)
);

-- Per channel: the newest position retention has dropped. A cursor before it has lost messages.
CREATE TABLE IF NOT EXISTS ${s}.durable_expired (
  channel text PRIMARY KEY,
  epoch integer NOT NULL,
  tx bigint NOT NULL,
  id bigint NOT NULL
);

-- Consumer groups: one row per (channel, group, partition): the cursor, advanced in the same transaction as
-- the handler's writes, and the lease (owner, generation, expiry) that fences stale consumers. Updated once
-- per batch; the fill factor leaves room for HOT updates.
CREATE TABLE IF NOT EXISTS ${s}.durable_cursors (
  channel text NOT NULL,
  grp text NOT NULL,
  part integer NOT NULL,
  epoch integer NOT NULL,
  tx bigint NOT NULL,
  id bigint NOT NULL,
  owner text,
  generation bigint NOT NULL DEFAULT 0,
  lease_until timestamptz NOT NULL DEFAULT '-infinity',
  PRIMARY KEY (channel, grp, part)
) WITH (fillfactor = 50);

-- Consumer groups' live members, so each can take its fair share of partitions.
CREATE TABLE IF NOT EXISTS ${s}.durable_members (
  channel text NOT NULL,
  grp text NOT NULL,
  member text NOT NULL,
  alive_until timestamptz NOT NULL,
  PRIMARY KEY (channel, grp, member)
) WITH (fillfactor = 50);

-- The log's id, epoch and schema version; first raises the epoch when the database was restored (a new
-- cluster, or a transaction id counter behind the highest one seen). SECURITY DEFINER: raising the epoch sets
-- the log's column default, which only its owner may, and an application role opens the log after a restore
-- too (the search path is pinned, pg_temp last).
CREATE OR REPLACE FUNCTION ${s}.durable_epoch() RETURNS TABLE (log_id text, epoch integer, version integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ${s}, pg_catalog, pg_temp AS $fn$
DECLARE
  m record;
  sys text;
  next_xid bigint;
BEGIN
  BEGIN
    sys := (pg_control_system()).system_identifier::text;
  EXCEPTION WHEN insufficient_privilege THEN
    sys := NULL;
  END;
  SELECT * INTO m FROM durable_meta;
  IF (sys IS NOT NULL AND sys IS DISTINCT FROM m.system_id) OR txid_snapshot_xmax(txid_current_snapshot()) < m.seen_xid THEN
    PERFORM pg_advisory_xact_lock(hashtext('rxpg.durable.epoch'), hashtext(current_schema()));
    -- A new snapshot after the lock: another session may have done this already.
    SELECT * INTO m FROM durable_meta;
    next_xid := txid_snapshot_xmax(txid_current_snapshot());
    IF (sys IS NOT NULL AND m.system_id IS NOT NULL AND sys <> m.system_id) OR next_xid < m.seen_xid THEN
      UPDATE durable_meta SET epoch = durable_meta.epoch + 1, system_id = coalesce(sys, durable_meta.system_id), seen_xid = next_xid
      RETURNING durable_meta.epoch INTO m.epoch;
      -- New rows take the new epoch, so they sort after every position handed out before the restore.
      EXECUTE format('ALTER TABLE %I.durable_log ALTER COLUMN epoch SET DEFAULT %s', current_schema(), m.epoch);
    ELSIF m.system_id IS NULL AND sys IS NOT NULL THEN
      UPDATE durable_meta SET system_id = sys;
    END IF;
  END IF;
  RETURN QUERY SELECT d.log_id, d.epoch, d.version FROM durable_meta d;
END
$fn$;

-- The snapshot horizon, and whether the transaction at it is running (then it holds every reader back: a
-- stall when it lasts). When nothing runs the horizon is the next id, which txid_status calls "in the future".
CREATE OR REPLACE FUNCTION ${s}.durable_horizon(OUT xmin bigint, OUT running boolean)
LANGUAGE plpgsql AS $fn$
BEGIN
  xmin := txid_snapshot_xmin(txid_current_snapshot());
  BEGIN
    running := txid_status(xmin) = 'in progress';
  EXCEPTION WHEN invalid_parameter_value THEN
    running := false;
  END;
END
$fn$;

-- Retention and partitions, run by one process at a time (an advisory lock elects it; the others return
-- elected = false). Creates the partitions for the current span and \`premake\` spans ahead; drops whole
-- partitions that ended more than max_age_seconds ago, then the oldest past ones while the log is larger than
-- max_bytes (NULL: no such limit); empties the default partition once its newest row is past max_age. Before
-- dropping, records per channel the newest position dropped (durable_expired).
CREATE OR REPLACE FUNCTION ${s}.durable_maintain(span_seconds integer, max_age_seconds bigint, max_bytes bigint, premake integer)
RETURNS TABLE (elected boolean, created integer, dropped integer)
LANGUAGE plpgsql SET search_path = ${s}, pg_catalog AS $fn$
DECLARE
  span bigint := greatest(span_seconds, 1);
  now_s bigint := floor(extract(epoch FROM clock_timestamp()));
  first_start bigint := now_s - (now_s % greatest(span_seconds, 1));
  start_s bigint;
  part_name text;
  p record;
  made integer := 0;
  gone integer := 0;
  total bigint;
  newest timestamptz;
  keep_after timestamptz := CASE WHEN max_age_seconds IS NULL THEN '-infinity'::timestamptz ELSE clock_timestamp() - make_interval(secs => max_age_seconds) END;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('rxpg.durable.maintain'), hashtext(current_schema())) THEN
    RETURN QUERY SELECT false, 0, 0;
    RETURN;
  END IF;
  -- DDL on the log waits for readers and writers: never long.
  PERFORM set_config('lock_timeout', '2000', true);
  UPDATE durable_meta SET seen_xid = greatest(seen_xid, txid_snapshot_xmax(txid_current_snapshot()));

  FOR i IN 0..greatest(premake, 0) LOOP
    start_s := first_start + i * span;
    part_name := 'durable_log_p' || start_s;
    CONTINUE WHEN EXISTS (SELECT 1 FROM durable_partitions d WHERE d.starts < to_timestamp(start_s + span) AND d.ends > to_timestamp(start_s));
    BEGIN
      EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.durable_log FOR VALUES FROM (%L) TO (%L)',
        current_schema(), part_name, current_schema(), to_timestamp(start_s), to_timestamp(start_s + span));
      INSERT INTO durable_partitions (name, starts, ends) VALUES (part_name, to_timestamp(start_s), to_timestamp(start_s + span));
      made := made + 1;
    EXCEPTION WHEN lock_not_available OR check_violation THEN
      -- Busy (next run retries), or rows of this range wait in the default partition (they age out there).
      NULL;
    END;
  END LOOP;

  SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', current_schema(), d.name)::regclass)), 0) INTO total FROM durable_partitions d;
  FOR p IN SELECT d.name, d.ends, pg_total_relation_size(format('%I.%I', current_schema(), d.name)::regclass) AS bytes
           FROM durable_partitions d WHERE d.ends <= clock_timestamp() ORDER BY d.starts LOOP
    EXIT WHEN p.ends > keep_after AND (max_bytes IS NULL OR total <= max_bytes);
    BEGIN
      EXECUTE format('INSERT INTO durable_expired AS e (channel, epoch, tx, id) '
        'SELECT DISTINCT ON (channel) channel, epoch, tx, id FROM %I.%I ORDER BY channel, epoch DESC, tx DESC, id DESC '
        'ON CONFLICT (channel) DO UPDATE SET epoch = excluded.epoch, tx = excluded.tx, id = excluded.id '
        'WHERE (excluded.epoch, excluded.tx, excluded.id) > (e.epoch, e.tx, e.id)', current_schema(), p.name);
      EXECUTE format('DROP TABLE %I.%I', current_schema(), p.name);
      DELETE FROM durable_partitions WHERE name = p.name;
      gone := gone + 1;
      total := total - p.bytes;
    EXCEPTION WHEN lock_not_available THEN
      EXIT;
    END;
  END LOOP;

  SELECT max(appended_at) INTO newest FROM durable_log_default;
  IF newest IS NOT NULL AND newest < keep_after THEN
    BEGIN
      INSERT INTO durable_expired AS e (channel, epoch, tx, id)
      SELECT DISTINCT ON (channel) channel, epoch, tx, id FROM durable_log_default ORDER BY channel, epoch DESC, tx DESC, id DESC
      ON CONFLICT (channel) DO UPDATE SET epoch = excluded.epoch, tx = excluded.tx, id = excluded.id
      WHERE (excluded.epoch, excluded.tx, excluded.id) > (e.epoch, e.tx, e.id);
      TRUNCATE durable_log_default;
      gone := gone + 1;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
  END IF;
  RETURN QUERY SELECT true, made, gone;
END
$fn$;
`
}
