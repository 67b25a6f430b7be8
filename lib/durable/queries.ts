/**
 * Every statement a durable log runs, built once per log for its schema (a quoted identifier); values are
 * always parameters. Reads are single statements, so the horizon, the expiry check and the rows all come
 * from one snapshot.
 */
import { quoteIdentifier } from '../index.js'

export type Queries = ReturnType<typeof queriesFor>

/**
 * The page query returns its rows in the index order of its ordered scans; rxpg checks that order in JavaScript
 * (page.ts) rather than paying a sort, and sorts only if it ever differs.
 *
 * Its plan must not depend on the planner's row estimates: the right plan is always ordered index scans (one
 * per partition, merged) that stop after the page, and any plan that fetches every row after the cursor and
 * sorts them makes each page of a backlog read the whole backlog behind it. Two estimates led there
 * (spec/integration/durable-plans.spec.ts):
 * - On a partition without statistics yet (fresh, after a burst of appends) the planner guesses that few rows
 *   match, and with a known limit above that guess it sorted. The limit is a subquery, so the planner does
 *   not know it and costs the ordered scans for a fraction of the rows.
 * - With statistics, the planner estimates a row comparison by its first column alone: `(epoch, tx, id) >
 *   (1, t, i)` became "epoch > 1", about no row. The lower bound is written `>= (epoch, tx, id + 1)` (the
 *   same rows: ids are integers), estimated as "epoch >= 1": every row of the epoch, an overestimate, under
 *   which the ordered scans are the cheap plan.
 * Measured on a 50,000-row backlog read page by page: 73,000 rows/s fresh and 24,000 analyzed before, about
 * 150,000 after in both cases (docs/design.md).
 */
export function queriesFor(schema: string) {
  const s = quoteIdentifier(schema)
  // The horizon and the current epoch, from the statement's own snapshot. Rows of transactions below xmin are
  // final (committed or rolled back); rows of older epochs (before a restore) are all final too.
  const horizon = `SELECT txid_snapshot_xmin(snap) AS xmin, txid_snapshot_xmax(snap) AS xmax, (SELECT m.epoch FROM ${s}.durable_meta m) AS epoch FROM txid_current_snapshot() AS snap`
  // The channel's newest row below the horizon. A cursor moves no further than a row (or retention's newest
  // dropped position, which was a row): a horizon can stand past transaction ids that wrote nothing durable
  // (a NOTIFY-only transaction takes one and its commit is not flushed), which PostgreSQL hands out again
  // after a crash, so a cursor past them would skip the rows written with them. A row's transaction id is
  // durable: after a crash every new id is above it.
  const newest = `SELECT l.epoch, l.tx, l.id FROM ${s}.durable_log l
    WHERE l.channel = $1 AND (l.epoch < h.epoch OR l.tx < h.xmin) ORDER BY l.epoch DESC, l.tx DESC, l.id DESC LIMIT 1`
  // A page: one header row (the horizon, the newest position retention dropped on this channel: a cursor
  // before it has lost messages, and for a consumer's read the channel's newest row), then the rows, each kind in its own columns. The header is computed once per
  // page rather than once per row, no column is cast per row (page.ts reads the server's text as it is), and `h`
  // (MATERIALIZED: once) reaches the row filter as a constant rather than as a function call per row. Together
  // they took the server's time per row from about 4.1 µs to 2.6 µs (docs/design.md). `pending`: the channel has
  // rows committed at or past the horizon (unread, whatever the cursor: it is below the horizon), readable once
  // the older transactions holding it end, which may wake nobody: the reader reads again soon (reread-while-held.ts).
  // For a consumer's read (`owned`), rows of the partitions it owns only. A backward index scan from the newest
  // row down to the horizon: as an EXISTS (which drops ORDER BY and LIMIT) the planner, estimating the row
  // comparison by the epoch alone (every row), read each partition whole, at every page.
  const rows = (extra: string, owned: boolean) => `WITH h AS MATERIALIZED (${horizon})
SELECT h.xmin, h.xmax, h.epoch AS current_epoch, e.epoch AS expired_epoch, e.tx AS expired_tx, e.id AS expired_id,
  ${owned ? 'n.epoch AS newest_epoch, n.tx AS newest_tx, n.id AS newest_id' : 'NULL::int AS newest_epoch, NULL::bigint AS newest_tx, NULL::bigint AS newest_id'},
  COALESCE((SELECT true FROM ${s}.durable_log p WHERE p.channel = $1 AND (p.epoch, p.tx, p.id) >= (h.epoch, h.xmin, 0)${owned ? ' AND ($6::int[])[p.part + 1] IS NOT NULL' : ''}
    ORDER BY p.epoch DESC, p.tx DESC, p.id DESC LIMIT 1), false) AS pending,
  NULL::int AS epoch, NULL::bigint AS tx, NULL::bigint AS id, NULL::smallint AS part, NULL::text AS key, NULL::json AS value, NULL::float8 AS appended_ms
FROM h LEFT JOIN ${s}.durable_expired e ON e.channel = $1${owned ? `
LEFT JOIN LATERAL (${newest}) n ON true` : ''}
UNION ALL (
  SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, l.epoch, l.tx, l.id, l.part, l.key, l.value, date_part('epoch', l.appended_at) * 1000
  FROM ${s}.durable_log l
  WHERE l.channel = $1 AND (l.epoch, l.tx, l.id) >= ($2::int, $3::bigint, $4::bigint + 1) AND (l.epoch < (SELECT h.epoch FROM h) OR l.tx < (SELECT h.xmin FROM h))${extra}
  ORDER BY l.epoch, l.tx, l.id
  LIMIT (SELECT $5::bigint)
)`

  // What an append returns when a caller waits for its token: each row's position.
  const returningPosition = 'RETURNING epoch, tx::text AS tx, id::text AS id'
  const appendMany = `INSERT INTO ${s}.durable_log (channel, part, key, value)
SELECT c, p, k, v::json FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[]) AS u(c, p, k, v)`
  // One channel, no keys: a keyless value goes to a random partition, drawn here rather than sent per row.
  const appendJoined = `INSERT INTO ${s}.durable_log (channel, part, key, value)
SELECT $1, floor(random() * $2::int)::smallint, NULL, v::json FROM unnest(string_to_array($3, E'\\n')) AS v`

  return {
    schema,
    meta: `SELECT current_setting('server_version_num')::int AS server_version, e.log_id, e.epoch, e.version FROM ${s}.durable_epoch() e`,
    serverVersion: `SELECT current_setting('server_version_num')::int AS server_version`,
    /** $1 channel, $2..$4 position after which to read, $5 limit. */
    read: rows('', false),
    /**
     * A consumer's read: rows of the partitions it owns, each after that partition's own cursor ($6, $7, $8:
     * arrays indexed by partition + 1, NULL for partitions it does not own, which no row passes). $2..$4 is the
     * smallest of those cursors, where the index scan starts.
     */
    readOwned: rows(
      `
    AND (l.epoch, l.tx, l.id) > (($6::int[])[l.part + 1], ($7::bigint[])[l.part + 1], ($8::bigint[])[l.part + 1])`,
      true,
    ),
    /** The 'now' position of channel $1: its newest row below the horizon, and retention's newest dropped position. */
    now: `WITH h AS MATERIALIZED (${horizon})
SELECT h.xmax::text AS xmax, h.epoch AS current_epoch, n.epoch AS newest_epoch, n.tx::text AS newest_tx, n.id::text AS newest_id, e.epoch AS expired_epoch, e.tx::text AS expired_tx, e.id::text AS expired_id
FROM h LEFT JOIN ${s}.durable_expired e ON e.channel = $1 LEFT JOIN LATERAL (${newest}) n ON true`,
    /**
     * Whether position ($2, $3, $4) names a message of channel $1 this database has, or one retention dropped:
     * asked of a token of an older epoch (a restore), which may name a message written after the backup.
     */
    knownPosition: `SELECT EXISTS (SELECT 1 FROM ${s}.durable_log l WHERE l.channel = $1 AND l.epoch = $2::int AND l.tx = $3::bigint AND l.id = $4::bigint)
  OR EXISTS (SELECT 1 FROM ${s}.durable_expired e WHERE e.channel = $1 AND (e.epoch, e.tx, e.id) >= ($2::int, $3::bigint, $4::bigint)) AS known`,
    /** $1 channel, $2 partitions to use when the channel is new: the channel's fixed partition count. */
    channelPartitions: `WITH created AS (
  INSERT INTO ${s}.durable_channels (channel, partitions) VALUES ($1, $2) ON CONFLICT (channel) DO NOTHING RETURNING partitions
)
SELECT partitions FROM created UNION ALL SELECT partitions FROM ${s}.durable_channels WHERE channel = $1 LIMIT 1`,
    /** $1 channel: its partition count when it was registered (no row otherwise). */
    channelPartitionsKnown: `SELECT partitions FROM ${s}.durable_channels WHERE channel = $1`,
    /** One row. $1 channel, $2 partition, $3 key, $4 value (JSON text). */
    appendOne: `INSERT INTO ${s}.durable_log (channel, part, key, value) VALUES ($1, $2, $3, $4::json) ${returningPosition}`,
    /** Many rows in one statement: arrays of channel, partition, key, value (JSON text). */
    appendMany: `${appendMany} ${returningPosition}`,
    /** The same without RETURNING, for batches where no caller waits for a token (append$ only). */
    appendManyQuiet: appendMany,
    /** Many rows of one channel without keys (joined-values.ts): $1 channel, $2 its partition count, $3 the JSON texts joined by newlines. */
    appendJoined: `${appendJoined} ${returningPosition}`,
    appendJoinedQuiet: appendJoined,
    maintain: `SELECT elected, created, dropped FROM ${s}.durable_maintain($1, $2, $3, $4)`,
    /**
     * The oldest transaction holding the horizon back: a backend's or a prepared transaction's. $1: the xid (32-bit).
     * When it began, in ms since the epoch: a number, whatever the session's DateStyle (a timestamptz comes back
     * in it, and pg's parser reads only ISO: under 'SQL, DMY' or 'German' it gave null).
     */
    horizonHolder: `SELECT pid, NULL::text AS gid, state, date_part('epoch', xact_start) * 1000 AS since_ms, usename::text AS user_name, datname::text AS database, application_name
  FROM pg_stat_activity WHERE backend_xid::text::bigint = $1
UNION ALL
SELECT NULL::int, gid, 'prepared', date_part('epoch', prepared) * 1000, owner::text, database::text, NULL FROM pg_prepared_xacts WHERE transaction::text::bigint = $1
LIMIT 1`,
    /** The horizon, and every transaction id in progress (comma-separated text: no array parser involved). */
    horizonSample: `SELECT h.xmin::text AS xmin, h.running, (SELECT string_agg(x::text, ',') FROM txid_snapshot_xip(txid_current_snapshot()) AS x) AS in_progress FROM ${s}.durable_horizon() h`,

    // Consumer groups. $1 channel, $2 group throughout.
    /** Creates the group's cursor rows (no-op when they exist), starting at ($4, $5, $6) or at the channel's expiry when later. $3 partitions. */
    joinGroup: `INSERT INTO ${s}.durable_cursors (channel, grp, part, epoch, tx, id)
SELECT $1, $2, p, coalesce(e.epoch, $4::int), coalesce(e.tx, $5::bigint), coalesce(e.id, $6::bigint)
FROM generate_series(0, $3::int - 1) AS p
LEFT JOIN ${s}.durable_expired e ON e.channel = $1 AND (e.epoch, e.tx, e.id) > ($4::int, $5::bigint, $6::bigint)
ON CONFLICT (channel, grp, part) DO NOTHING`,
    /** $3 member, $4 lease ms: this member is alive; returns the group's live member count. */
    heartbeat: `WITH me AS (
  INSERT INTO ${s}.durable_members (channel, grp, member, alive_until) VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
  ON CONFLICT (channel, grp, member) DO UPDATE SET alive_until = excluded.alive_until
)
SELECT 1 + count(*)::int AS members FROM ${s}.durable_members WHERE channel = $1 AND grp = $2 AND member <> $3 AND alive_until > clock_timestamp()`,
    forgetDeadMembers: `DELETE FROM ${s}.durable_members WHERE channel = $1 AND grp = $2 AND alive_until < clock_timestamp() - interval '1 minute'`,
    leaveGroup: `DELETE FROM ${s}.durable_members WHERE channel = $1 AND grp = $2 AND member = $3`,
    /** $3 member, $4 lease ms, $5 partitions, $6 generations: renews the leases still held; returns them. */
    renewLeases: `UPDATE ${s}.durable_cursors c SET lease_until = clock_timestamp() + $4 * interval '1 millisecond'
FROM unnest($5::int[], $6::bigint[]) AS held(part, generation)
WHERE c.channel = $1 AND c.grp = $2 AND c.part = held.part AND c.owner = $3 AND c.generation = held.generation AND c.lease_until > clock_timestamp()
RETURNING c.part`,
    /**
     * $3 member, $4 lease ms, $5 how many, $6 the partitions it holds now (never taken again: a lease held is
     * renewed, keeping its generation): takes free or expired partitions (or its own again, after an unknown
     * commit made it forget them), each with a new generation. The free ones are chosen once, in a MATERIALIZED
     * CTE: as a subquery joined to the rows it updates, PostgreSQL ran it again for each of them, and each run
     * skipped the rows the last one had taken (locked by this statement), so a member asking for 4 took all 12.
     */
    acquireLeases: `WITH free AS MATERIALIZED (
  SELECT part FROM ${s}.durable_cursors
  WHERE channel = $1 AND grp = $2 AND part <> ALL ($6::int[]) AND (owner IS NULL OR owner = $3 OR lease_until < clock_timestamp())
  ORDER BY part LIMIT $5 FOR UPDATE SKIP LOCKED
)
UPDATE ${s}.durable_cursors c SET owner = $3, generation = c.generation + 1, lease_until = clock_timestamp() + $4 * interval '1 millisecond'
FROM free
WHERE c.channel = $1 AND c.grp = $2 AND c.part = free.part
RETURNING c.part, c.generation::text AS generation, c.epoch, c.tx::text AS tx, c.id::text AS id`,
    /**
     * $3 member, $4 partitions, $5 generations: those of the partitions this member still holds in that generation,
     * unexpired (the ack's own test), asked after a failed handler to tell a lost lease from a failure of its own.
     */
    heldLeases: `SELECT c.part FROM ${s}.durable_cursors c
JOIN unnest($4::int[], $5::bigint[]) AS held(part, generation) ON c.part = held.part AND c.generation = held.generation
WHERE c.channel = $1 AND c.grp = $2 AND c.owner = $3 AND c.lease_until > clock_timestamp()`,
    /** $3 member, $4 partitions, $5 generations: gives partitions back (to be taken by others at once). */
    /**
     * $3 epoch, $4 tx, $5 id: moves every partition's cursor there and takes every lease away (a new generation,
     * no owner): a member's ack for a batch read before fails as stale, and its next takeover reads the new cursor.
     * Returns the partitions moved: none for a group that never ran.
     */
    moveGroup: `UPDATE ${s}.durable_cursors SET epoch = $3::int, tx = $4::bigint, id = $5::bigint, owner = NULL, lease_until = '-infinity', generation = generation + 1
WHERE channel = $1 AND grp = $2
RETURNING part`,
    /** The consumer groups of a channel (those that have run: they have cursors), by name. */
    groups: `SELECT DISTINCT grp FROM ${s}.durable_cursors WHERE channel = $1 ORDER BY grp`,
    /**
     * Each partition of the group: its cursor, whether retention dropped messages after it, its live lease (owner
     * and expiry in ms since the epoch, else NULL), and the messages after its cursor (how many, and the oldest
     * one's time in ms). An operator's call, not a hot path: it counts every row waiting.
     */
    groupLag: `SELECT c.part, c.epoch, c.tx::text AS tx, c.id::text AS id,
  coalesce((c.epoch, c.tx, c.id) < (e.epoch, e.tx, e.id), false) AS expired,
  CASE WHEN c.owner IS NOT NULL AND c.lease_until > clock_timestamp() THEN c.owner END AS owner,
  CASE WHEN c.owner IS NOT NULL AND c.lease_until > clock_timestamp() THEN date_part('epoch', c.lease_until) * 1000 END AS lease_ms,
  count(l.id)::text AS waiting, date_part('epoch', min(l.appended_at)) * 1000 AS oldest_ms
FROM ${s}.durable_cursors c
LEFT JOIN ${s}.durable_expired e ON e.channel = c.channel
LEFT JOIN ${s}.durable_log l ON l.channel = c.channel AND l.part = c.part AND (l.epoch, l.tx, l.id) > (c.epoch, c.tx, c.id)
WHERE c.channel = $1 AND c.grp = $2
GROUP BY c.part, c.epoch, c.tx, c.id, c.owner, c.lease_until, e.epoch, e.tx, e.id
ORDER BY c.part`,
    releaseLeases: `UPDATE ${s}.durable_cursors c SET owner = NULL, lease_until = '-infinity'
FROM unnest($4::int[], $5::bigint[]) AS held(part, generation)
WHERE c.channel = $1 AND c.grp = $2 AND c.part = held.part AND c.owner = $3 AND c.generation = held.generation`,
    /**
     * The ack, in the batch's transaction: advances each partition's cursor only while this member still holds
     * it in the same generation, with the lease unexpired. Returns the partitions advanced; fewer than asked
     * means a stale ack, and the transaction is rolled back. $3 member, then arrays: partition, generation,
     * new epoch, tx, id.
     */
    ack: `UPDATE ${s}.durable_cursors c SET epoch = a.epoch, tx = a.tx, id = a.id
FROM unnest($4::int[], $5::bigint[], $6::int[], $7::bigint[], $8::bigint[]) AS a(part, generation, epoch, tx, id)
WHERE c.channel = $1 AND c.grp = $2 AND c.part = a.part AND c.owner = $3 AND c.generation = a.generation AND c.lease_until > clock_timestamp()
RETURNING c.part`,
  }
}
