/**
 * Scenario 7, replication: four ways to watch a table, side by side on a dedicated embedded PostgreSQL with
 * wal_level=logical (bench/feeds): rxpg's change stream, pg-logical-replication (pgoutput, acknowledging the
 * last LSN once a second, its fastest setting), postgres.js `subscribe`, and a trigger that NOTIFYs each row
 * to an rxpg listener. Each feed runs in a process of its own (bench/workers/feed.ts); one writer process
 * (bench/workers/feed-writer.ts) writes rows of ~200 bytes.
 *
 * (a) Drain: every feed subscribed and frozen (SIGSTOP) while the writer commits N rows in transactions of
 *     100; then thawed one at a time, in an order rotated from run to run: changes/s and CPU µs per change,
 *     from the feed's first row to its last.
 * (b) Commit → callback: one row per transaction at 1,000/s, each carrying its send time (CLOCK_MONOTONIC, one
 *     clock for every process); every feed listening at once. An upper bound (it includes the INSERT's own
 *     round trip, also reported).
 * (c) Write throughput: 32 connections inserting one row per transaction for a fixed time, with no feed and
 *     with each feed on (consuming as it goes), one at a time.
 * (d) Heap while one large transaction streams (its size below), replication feeds only, all at once: the
 *     largest heapUsed sampled every 100 ms.
 * (e) Resume exactness: each feed commits each row's id into a ledger of its own (the effect), as a user would
 *     (rxpg stores its position with the effect and resumes after it; pg-logical-replication resumes from its
 *     slot, acknowledged once a second; postgres.js and the listener have nothing to resume from). A steady
 *     stream of multi-row INSERTs and COPYs runs while the feeds are killed with SIGKILL and restarted, and
 *     every tenth round their connections are terminated instead. Lost and duplicated ids at the end.
 * (f) Slot retention: the watched table idle, another table written at a steady rate; every 500 ms, each
 *     slot's unacknowledged WAL (`pg_current_wal_lsn() - confirmed_flush_lsn`) and what it retains on disk.
 */
import pg from 'pg'
import type { EmbeddedServer } from '../../support/embedded-server.js'
import { FEED_CHANNEL, FEED_LABELS, FEED_PUBLICATION, FEED_TABLE, FEEDS, type Feed } from '../feeds/types.js'
import { formatNumber, formatRatio, formatSummary, latencyPercentiles, summarize, type LatencyPercentiles } from '../support/stats.js'
import { Worker } from '../support/worker.js'
import type { CollectResult, HeapResult, StartArgs } from '../workers/feed.js'
import { rotate, sleep, type BenchContext, type ScenarioResult, type Table, type TargetCheck } from './common.js'

const REPLICATION_FEEDS = ['rxpg', 'pg-logical-replication', 'postgres'] as const satisfies readonly Feed[]
/** Feeds that read a slot the harness creates (postgres.js makes a temporary one of its own). */
const SLOT_FEEDS = new Set<Feed>(['rxpg', 'pg-logical-replication'])

interface Sizes {
  readonly runs: number
  /** Drain runs: the rate is mostly the WAL sender's, so it takes more runs to see past the machine's noise. */
  readonly drainRuns: number
  readonly drainRows: number
  readonly pacedRows: number
  readonly writeSeconds: number
  readonly largeRows: number
  readonly kills: number
  readonly retentionSeconds: number
}

const FULL: Sizes = { runs: 3, drainRuns: 5, drainRows: 200_000, pacedRows: 5000, writeSeconds: 10, largeRows: 4_000_000, kills: 100, retentionSeconds: 60 }
const QUICK: Sizes = { runs: 1, drainRuns: 1, drainRows: 20_000, pacedRows: 1500, writeSeconds: 3, largeRows: 100_000, kills: 10, retentionSeconds: 10 }

/** Rows the heap part writes, when set (e.g. to size the large transaction on a given machine). */
const LARGE_ROWS_OVERRIDE = Number(process.env.BENCH_REPLICATION_LARGE_ROWS ?? '') || undefined
const PACED_RATE = 1000
const WRITERS = 32
/** Unrelated WAL written during the retention part, bytes of rows per second. */
const CHURN_BYTES_PER_SECOND = 2 * 2 ** 20
const RETENTION_WARM_UP_MS = 5000

class Database {
  constructor(readonly url: string) {}

  async query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<Row[]> {
    const client = new pg.Client({ connectionString: this.url })
    client.on('error', () => undefined)
    await client.connect()
    try {
      return (await client.query<Row>(text, values)).rows
    } finally {
      await client.end().catch(() => undefined)
    }
  }
}

/** The scenario's server: the watched table and its publication, an unrelated table, the trigger, the ledgers. */
async function prepare(db: Database): Promise<void> {
  await db.query(`CREATE TABLE ${FEED_TABLE} (id int PRIMARY KEY, t bigint NOT NULL, kind text NOT NULL, payload text NOT NULL)`)
  await db.query('CREATE TABLE bench_busy (id bigserial PRIMARY KEY, body text NOT NULL)')
  await db.query(`CREATE PUBLICATION ${FEED_PUBLICATION} FOR TABLE ${FEED_TABLE}`)
  await db.query(
    `CREATE FUNCTION bench_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('${FEED_CHANNEL}', row_to_json(NEW)::text); RETURN NULL; END $$`,
  )
  await db.query(`CREATE TRIGGER bench_feed_notify AFTER INSERT ON ${FEED_TABLE} FOR EACH ROW EXECUTE FUNCTION bench_feed_notify()`)
  await db.query(`ALTER TABLE ${FEED_TABLE} DISABLE TRIGGER bench_feed_notify`)
  for (const feed of FEEDS) await db.query(`CREATE TABLE ${ledgerOf(feed)} (id int NOT NULL)`)
  await db.query('CREATE TABLE ledger_offset (feed text PRIMARY KEY, position text)')
}

const ledgerOf = (feed: Feed) => `ledger_${feed.replaceAll('-', '_')}`

async function setTrigger(db: Database, on: boolean): Promise<void> {
  await db.query(`ALTER TABLE ${FEED_TABLE} ${on ? 'ENABLE' : 'DISABLE'} TRIGGER bench_feed_notify`)
}

/** The feeds of one part: a worker each, a fresh slot for those that read one. */
class FeedSet {
  readonly workers = new Map<Feed, Worker>()
  private readonly slots = new Map<Feed, string>()

  constructor(
    private readonly db: Database,
    private readonly part: string,
  ) {}

  slot(feed: Feed): string {
    return this.slots.get(feed) ?? `bench_${this.part}_${feed.replaceAll('-', '_')}`
  }

  async createSlots(feeds: readonly Feed[]): Promise<void> {
    for (const feed of feeds) {
      if (!SLOT_FEEDS.has(feed)) continue
      await this.db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [this.slot(feed)])
      this.slots.set(feed, this.slot(feed))
    }
  }

  async start(feed: Feed, mode: StartArgs['mode'], nodeFlags: readonly string[] = []): Promise<Worker> {
    const worker = await Worker.start('feed', `feed(${feed})`, { nodeFlags: ['--no-deprecation', ...nodeFlags], lifeLimitMs: 40 * 60_000 })
    try {
      await worker.call('start', { feed, url: this.db.url, slot: this.slot(feed), mode } satisfies StartArgs, 60_000)
    } catch (error) {
      // What the feed went through (its state changes, errors) says why it did not start.
      const events = await worker.call<string[]>('events', {}, 5000).catch((failure: unknown) => [`no events: ${String(failure)}`])
      await worker.stop()
      throw new Error(`${String(error)}; its last events:\n${events.join('\n')}`, { cause: error })
    }
    this.workers.set(feed, worker)
    return worker
  }

  async stop(feed: Feed): Promise<void> {
    await this.workers.get(feed)?.stop()
    this.workers.delete(feed)
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((worker) => worker.stop()))
    this.workers.clear()
    for (const slot of this.slots.values()) {
      await this.db.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot])
      for (let attempt = 0; attempt < 50; attempt++) {
        const dropped = await this.db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).then(
          () => true,
          () => false,
        )
        if (dropped) break
        await sleep(100)
      }
    }
    this.slots.clear()
  }
}

/** Ids written so far: every write takes fresh ones, so nothing has to be emptied between parts. */
class Ids {
  private next = 1
  take(count: number): number {
    const first = this.next
    this.next += count
    return first
  }
}

interface DrainFigures {
  readonly perSecond: number[]
  readonly cpuPerChange: number[]
}

export async function replication(context: BenchContext): Promise<ScenarioResult> {
  const sizes = context.quick ? QUICK : FULL
  const largeRows = LARGE_ROWS_OVERRIDE ?? sizes.largeRows
  const { startEmbeddedServer } = await import('../../support/embedded-server.js')
  const server: EmbeddedServer = await startEmbeddedServer({
    settings: { wal_level: 'logical', max_replication_slots: '40', max_wal_senders: '40', max_wal_size: '8GB' },
  })
  const db = new Database(server.url)
  const writer = await Worker.start('feed-writer', 'feed-writer', { nodeFlags: ['--no-deprecation'], lifeLimitMs: 40 * 60_000 })
  const ids = new Ids()
  try {
    await writer.call('connect', { url: server.url })
    await prepare(db)
    const version = (await db.query<{ version: string }>('SELECT version()'))[0]?.version ?? 'unknown'
    context.log(`replication: ${version.split(' on ')[0]} on port ${server.port}`)

    const drain = await drainAndLatency(context, db, writer, ids, sizes)
    const writes = await writeThroughput(context, db, writer, ids, sizes)
    const heap = await largeTransaction(context, db, writer, ids, largeRows)
    const resume = await resumeAcrossKills(context, db, writer, ids, sizes)
    const retention = await slotRetention(context, db, writer, sizes)
    return report({ drain, writes, heap, resume, retention, sizes, largeRows, version })
  } finally {
    await writer.stop()
    await server.destroy()
  }
}

// (a) and (b) -------------------------------------------------------------------------------------------------

async function drainAndLatency(context: BenchContext, db: Database, writer: Worker, ids: Ids, sizes: Sizes) {
  await setTrigger(db, true)
  const feeds = new FeedSet(db, 'drain')
  const drain = new Map<Feed, DrainFigures>(FEEDS.map((feed) => [feed, { perSecond: [], cpuPerChange: [] }]))
  const latency = new Map<Feed, LatencyPercentiles[]>(FEEDS.map((feed) => [feed, []]))
  const roundTrips: LatencyPercentiles[] = []
  const serverDecoding: number[] = []
  try {
    await feeds.createSlots(FEEDS)
    for (const feed of FEEDS) await feeds.start(feed, 'count')
    // Warm-up: connections and JIT.
    const warmUp = 20_000
    await Promise.all([...feeds.workers.values()].map((worker) => worker.call('arm', { count: warmUp })))
    await writer.call('bulk', { count: warmUp, perTransaction: 100, idStart: ids.take(warmUp) }, 300_000)
    await Promise.all([...feeds.workers.values()].map((worker) => worker.call('collect', { timeoutMs: 120_000 }, 130_000)))

    for (let run = 0; run < sizes.drainRuns; run++) {
      const workers = [...feeds.workers.values()]
      await Promise.all(workers.map((worker) => worker.call('arm', { count: sizes.drainRows })))
      await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [SERVER_DECODING_SLOT])
      for (const worker of workers) worker.pause()
      try {
        await writer.call('bulk', { count: sizes.drainRows, perTransaction: 100, idStart: ids.take(sizes.drainRows) }, 600_000)
      } catch (error) {
        for (const worker of workers) worker.resume()
        throw error
      }
      for (const feed of rotate(FEEDS, run)) {
        const worker = feeds.workers.get(feed) as Worker
        worker.resume()
        const result = await worker.call<CollectResult>('collect', { timeoutMs: 300_000 }, 310_000)
        const figures = drain.get(feed) as DrainFigures
        const perSecond = result.received > 1 ? (result.received - 1) / (result.elapsedNs / 1e9) : Number.NaN
        figures.perSecond.push(result.timedOut ? Number.NaN : perSecond)
        figures.cpuPerChange.push(result.received > 0 ? result.cpuUs / result.received : Number.NaN)
        context.log(`replication drain run ${run + 1}/${sizes.drainRuns} ${feed}: ${formatNumber(perSecond)}/s, ${formatNumber(result.cpuUs / result.received)} µs CPU/change${result.timedOut ? ' (timed out)' : ''}`)
      }
      const decoded = await serverDecodingRate(db)
      serverDecoding.push(decoded.changes === sizes.drainRows ? decoded.perSecond : Number.NaN)
      context.log(`replication drain run ${run + 1}/${sizes.drainRuns} the server's own decoding: ${formatNumber(decoded.perSecond)}/s (${formatNumber(decoded.changes)} changes)`)
    }

    for (let run = 0; run < sizes.runs; run++) {
      const workers = [...feeds.workers.entries()]
      await Promise.all(workers.map(([, worker]) => worker.call('arm', { count: sizes.pacedRows, timed: true })))
      roundTrips.push(await writer.call<LatencyPercentiles>('paced', { count: sizes.pacedRows, rate: PACED_RATE, idStart: ids.take(sizes.pacedRows) }, 600_000))
      for (const [feed, worker] of workers) {
        const result = await worker.call<CollectResult>('collect', { timeoutMs: 60_000 }, 70_000)
        const percentiles = latencyPercentiles(result.latenciesMs ?? [])
        ;(latency.get(feed) as LatencyPercentiles[]).push(percentiles)
        context.log(`replication latency run ${run + 1}/${sizes.runs} ${feed}: p50 ${formatNumber(percentiles.p50)} p99 ${formatNumber(percentiles.p99)} max ${formatNumber(percentiles.max)} ms (${result.received} rows)`)
      }
    }
  } finally {
    await feeds.close()
    await setTrigger(db, false)
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [SERVER_DECODING_SLOT])
  }
  return { drain, latency, roundTrips, serverDecoding }
}

const SERVER_DECODING_LABEL = "the server's own decoding (SQL interface: no socket, no client)"

/** A slot that no feed reads: the server decodes the drain's backlog from it through the SQL interface. */
const SERVER_DECODING_SLOT = 'bench_drain_server_decoding'

/**
 * The rate at which the server itself decodes the backlog waiting in SERVER_DECODING_SLOT (then drops it): pgoutput
 * through `pg_logical_slot_get_binary_changes`, counted in the server, so no message crosses a socket and no
 * client parses one. A WAL sender does this decoding and then sends each change with a write of its own, so
 * past what a feed's socket buffer already held when it was thawed, no feed that reads logical replication can
 * drain faster than this on the same machine.
 */
async function serverDecodingRate(db: Database): Promise<{ perSecond: number; changes: number }> {
  const client = new pg.Client({ connectionString: db.url })
  client.on('error', () => undefined)
  await client.connect()
  try {
    const started = performance.now()
    const { rows } = await client.query<{ changes: string }>(
      `SELECT count(*) FILTER (WHERE get_byte(data, 0) = 73) AS changes FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`,
      [SERVER_DECODING_SLOT, FEED_PUBLICATION],
    )
    const seconds = (performance.now() - started) / 1000
    const changes = Number(rows[0]?.changes ?? 0)
    return { perSecond: changes / seconds, changes }
  } finally {
    await client.query('SELECT pg_drop_replication_slot($1)', [SERVER_DECODING_SLOT])
    await client.end()
  }
}

// (c) ---------------------------------------------------------------------------------------------------------

type WriteConfig = 'none' | Feed

async function writeThroughput(context: BenchContext, db: Database, writer: Worker, ids: Ids, sizes: Sizes) {
  const configs: WriteConfig[] = ['none', ...FEEDS]
  const commitsPerSecond = new Map<WriteConfig, number[]>(configs.map((config) => [config, []]))
  for (let run = 0; run < sizes.runs; run++) {
    for (const config of rotate(configs, run)) {
      const feeds = new FeedSet(db, `write${run}`)
      try {
        if (config !== 'none') {
          await feeds.createSlots([config])
          await feeds.start(config, 'count')
          if (config === 'notify') await setTrigger(db, true)
        }
        const nextId = ids.take(10_000_000)
        await writer.call('concurrent', { writers: WRITERS, durationMs: 1000, idStart: nextId }, 120_000)
        const result = await writer.call<{ commits: number; elapsedNs: number }>(
          'concurrent',
          { writers: WRITERS, durationMs: sizes.writeSeconds * 1000, idStart: nextId + 5_000_000 },
          sizes.writeSeconds * 1000 + 120_000,
        )
        const rate = result.commits / (result.elapsedNs / 1e9)
        ;(commitsPerSecond.get(config) as number[]).push(rate)
        context.log(`replication writes run ${run + 1}/${sizes.runs} ${config}: ${formatNumber(rate)} commits/s by ${WRITERS} writers`)
      } finally {
        await setTrigger(db, false)
        await feeds.close()
      }
    }
  }
  return commitsPerSecond
}

// (d) ---------------------------------------------------------------------------------------------------------

async function largeTransaction(context: BenchContext, db: Database, writer: Worker, ids: Ids, rows: number) {
  const feeds = new FeedSet(db, 'large')
  const heap = new Map<Feed, HeapResult & { perSecond: number }>()
  let walBytes: number | undefined
  try {
    await feeds.createSlots(REPLICATION_FEEDS)
    for (const feed of REPLICATION_FEEDS) await feeds.start(feed, 'count')
    const workers = [...feeds.workers.entries()]
    await Promise.all(workers.map(([, worker]) => worker.call('arm', { count: rows })))
    await Promise.all(workers.map(([, worker]) => worker.call('heapStart', { everyMs: 100 })))
    const [{ before }] = (await db.query<{ before: string }>('SELECT pg_current_wal_lsn()::text AS before')) as [{ before: string }]
    const written = await writer.call<{ elapsedNs: number }>('large', { rows, idStart: ids.take(rows) }, 30 * 60_000)
    const [{ bytes }] = (await db.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS bytes', [before])) as [{ bytes: string }]
    walBytes = Number(bytes)
    context.log(`replication large transaction: ${rows} rows, ${formatNumber(walBytes / 1e6)} MB of WAL, written in ${formatNumber(written.elapsedNs / 1e9)} s`)
    for (const [feed, worker] of workers) {
      const result = await worker.call<CollectResult>('collect', { timeoutMs: 30 * 60_000 }, 31 * 60_000)
      const sampled = await worker.call<HeapResult>('heapStop')
      const perSecond = result.received > 1 ? (result.received - 1) / (result.elapsedNs / 1e9) : Number.NaN
      heap.set(feed, { ...sampled, perSecond })
      context.log(`replication large transaction ${feed}: ${result.received} rows at ${formatNumber(perSecond)}/s, heap ${formatNumber(sampled.before / 2 ** 20)} → max ${formatNumber(sampled.max / 1e6)} MB`)
    }
  } finally {
    await feeds.close()
  }
  return { heap, walBytes: walBytes ?? Number.NaN }
}

// (e) ---------------------------------------------------------------------------------------------------------

interface ResumeFigures {
  readonly written: number
  readonly rows: number
  readonly distinct: number
  readonly lost: number
  readonly duplicates: number
}

async function resumeAcrossKills(context: BenchContext, db: Database, writer: Worker, ids: Ids, sizes: Sizes) {
  await setTrigger(db, true)
  const feeds = new FeedSet(db, 'resume')
  const first = ids.take(10_000_000)
  let kills = 0
  let drops = 0
  const figures = new Map<Feed, ResumeFigures>()
  try {
    await feeds.createSlots(FEEDS)
    for (const feed of FEEDS) await db.query('INSERT INTO ledger_offset (feed, position) VALUES ($1, NULL)', [ledgerOf(feed)])
    await Promise.all(FEEDS.map((feed) => feeds.start(feed, 'ledger')))
    await writer.call('streamStart', { perTransaction: 100, perSecond: 3, idStart: first })
    for (let round = 1; round <= sizes.kills; round++) {
      await sleep(300 + Math.random() * 1200)
      if (round % 10 === 0) {
        // Connections dropped: every WAL sender, and the listener's LISTEN connection.
        await db.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND (backend_type = 'walsender' OR query LIKE 'LISTEN%' OR query LIKE '%pg_listening_channels%')`,
        )
        drops += 1
      } else {
        for (const worker of feeds.workers.values()) worker.kill()
        await Promise.all([...feeds.workers.values()].map((worker) => worker.exit))
        feeds.workers.clear()
        kills += 1
        await Promise.all(FEEDS.map((feed) => feeds.start(feed, 'ledger')))
      }
      if (round % 10 === 0 || round === sizes.kills) context.log(`replication resume: ${kills} kills, ${drops} connection drops`)
    }
    const { written } = await writer.call<{ written: number }>('streamStop', {}, 60_000)
    // Every feed that can still deliver has what it will get once its ledger stops growing.
    for (const feed of FEEDS) {
      let previous = -1
      for (let waited = 0; waited < 120_000; waited += 2000) {
        const [{ n }] = (await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${ledgerOf(feed)}`)) as [{ n: string }]
        if (Number(n) === previous) break
        previous = Number(n)
        await sleep(2000)
      }
      const [counts] = (await db.query<{ rows: string; distinct: string }>(
        `SELECT count(*) AS rows, count(DISTINCT id) AS distinct FROM ${ledgerOf(feed)} WHERE id BETWEEN $1 AND $2`,
        [first, first + written - 1],
      )) as [{ rows: string; distinct: string }]
      const rows = Number(counts.rows)
      const distinct = Number(counts.distinct)
      figures.set(feed, { written, rows, distinct, lost: written - distinct, duplicates: rows - distinct })
      context.log(`replication resume ${feed}: ${written} written, ${distinct} delivered, ${written - distinct} lost, ${rows - distinct} duplicated`)
    }
  } finally {
    await feeds.close()
    await setTrigger(db, false)
  }
  return { figures, kills, drops }
}

// (f) ---------------------------------------------------------------------------------------------------------

interface RetentionFigures {
  /** Unacknowledged WAL (current − confirmed_flush), bytes, per sample. */
  readonly unconfirmed: number[]
  /** WAL kept on disk for the slot (current − restart_lsn), bytes, per sample. */
  readonly retained: number[]
}

async function slotRetention(context: BenchContext, db: Database, writer: Worker, sizes: Sizes) {
  const feeds = new FeedSet(db, 'retention')
  const figures = new Map<Feed, RetentionFigures>(REPLICATION_FEEDS.map((feed) => [feed, { unconfirmed: [], retained: [] }]))
  const rxpgLag: number[] = []
  let walPerSecond: number | undefined
  try {
    await feeds.createSlots(REPLICATION_FEEDS)
    for (const feed of REPLICATION_FEEDS) await feeds.start(feed, 'count')
    const [{ before }] = (await db.query<{ before: string }>('SELECT pg_current_wal_lsn()::text AS before')) as [{ before: string }]
    const churn = writer.call('churn', { durationMs: sizes.retentionSeconds * 1000, bytesPerSecond: CHURN_BYTES_PER_SECOND }, sizes.retentionSeconds * 1000 + 60_000)
    const started = Date.now()
    let done = false
    void churn.finally(() => (done = true))
    while (!done) {
      await sleep(500)
      if (Date.now() - started < RETENTION_WARM_UP_MS) continue
      const rows = await db.query<{ slot_name: string; unconfirmed: string; retained: string }>(
        `SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS unconfirmed,
                pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained
           FROM pg_replication_slots WHERE slot_name = ANY($1) OR slot_name LIKE 'postgresjs_%'`,
        [[feeds.slot('rxpg'), feeds.slot('pg-logical-replication')]],
      )
      for (const row of rows) {
        const feed: Feed = row.slot_name === feeds.slot('rxpg') ? 'rxpg' : row.slot_name === feeds.slot('pg-logical-replication') ? 'pg-logical-replication' : 'postgres'
        const entry = figures.get(feed) as RetentionFigures
        entry.unconfirmed.push(Number(row.unconfirmed))
        entry.retained.push(Number(row.retained))
      }
      const metrics = (await feeds.workers.get('rxpg')?.call<{ lagBytes: number } | null>('metrics')) ?? null
      if (metrics !== null) rxpgLag.push(metrics.lagBytes)
    }
    await churn
    const [{ bytes }] = (await db.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS bytes', [before])) as [{ bytes: string }]
    walPerSecond = Number(bytes) / ((Date.now() - started) / 1000)
    for (const [feed, entry] of figures) {
      context.log(`replication retention ${feed}: unacknowledged median ${formatNumber(summarize(entry.unconfirmed).median / 1e6)} MB, max ${formatNumber(summarize(entry.unconfirmed).max / 1e6)} MB`)
    }
  } finally {
    await feeds.close()
  }
  return { figures, rxpgLag, walPerSecond: walPerSecond ?? Number.NaN }
}

// The report --------------------------------------------------------------------------------------------------

interface Measured {
  readonly drain: Awaited<ReturnType<typeof drainAndLatency>>
  readonly writes: Awaited<ReturnType<typeof writeThroughput>>
  readonly heap: Awaited<ReturnType<typeof largeTransaction>>
  readonly resume: Awaited<ReturnType<typeof resumeAcrossKills>>
  readonly retention: Awaited<ReturnType<typeof slotRetention>>
  readonly sizes: Sizes
  readonly largeRows: number
  readonly version: string
}

/** Sizes are reported in MB (10^6 bytes), the unit of the targets. */
const MB = 1e6

function report(measured: Measured): ScenarioResult {
  const { drain, writes, heap, resume, retention, sizes, largeRows } = measured
  const drainMedian = (feed: Feed) => summarize(drain.drain.get(feed)?.perSecond ?? []).median
  const cpuMedian = (feed: Feed) => summarize(drain.drain.get(feed)?.cpuPerChange ?? []).median
  const p = (feed: Feed, key: 'p50' | 'p99' | 'max') => summarize((drain.latency.get(feed) ?? []).map((run) => run[key]))
  const peers = FEEDS.filter((feed) => feed !== 'rxpg')
  const fastest = peers.reduce((best, feed) => (drainMedian(feed) > drainMedian(best) ? feed : best), peers[0] as Feed)
  const serverDecoding = summarize(drain.serverDecoding)
  const tables: Table[] = [
    {
      title: '(a) Drain: a backlog of rows, the feed thawed alone',
      headers: ['feed', 'changes/s', 'CPU µs per change', '× fastest peer (rate)', '× fastest peer (CPU)'],
      rows: FEEDS.map((feed) => [
        FEED_LABELS[feed],
        formatSummary(summarize(drain.drain.get(feed)?.perSecond ?? [])),
        formatSummary(summarize(drain.drain.get(feed)?.cpuPerChange ?? [])),
        formatRatio(drainMedian(feed) / drainMedian(fastest)),
        formatRatio(cpuMedian(feed) / cpuMedian(fastest)),
      ]).concat([[SERVER_DECODING_LABEL, formatSummary(serverDecoding), '', formatRatio(serverDecoding.median / drainMedian(fastest)), '']]),
      note: `${formatNumber(sizes.drainRows)} rows of ~200 bytes in transactions of 100, ${sizes.drainRuns} run(s); median (min–max). The fastest peer by median rate: ${FEED_LABELS[fastest]}. The replication feeds' rate is mostly their WAL sender's (it decodes the backlog as they read); CPU per change is the feed's own. The last row is the server decoding the same backlog from a slot of its own through the SQL interface, after the feeds: pgoutput's work without a socket or a client. A WAL sender does that work and then writes each change to its socket, so once a thawed feed has read what its socket buffer held, none that reads logical replication drains faster than that row on this machine.`,
    },
    {
      title: `(b) Commit → callback at ${formatNumber(PACED_RATE)} rows/s (upper bound: from before the INSERT is sent)`,
      headers: ['feed', 'p50 ms', 'p99 ms', 'max ms'],
      rows: [
        ...FEEDS.map((feed) => [FEED_LABELS[feed], formatSummary(p(feed, 'p50')), formatSummary(p(feed, 'p99')), formatSummary(p(feed, 'max'))]),
        [
          "the writer's own INSERT round trip",
          formatSummary(summarize(drain.roundTrips.map((run) => run.p50))),
          formatSummary(summarize(drain.roundTrips.map((run) => run.p99))),
          formatSummary(summarize(drain.roundTrips.map((run) => run.max))),
        ],
      ],
      note: `${formatNumber(sizes.pacedRows)} rows, one per transaction, every feed listening at once, ${sizes.runs} run(s).`,
    },
    {
      title: `(c) Write throughput: ${WRITERS} connections, one row per transaction`,
      headers: ['feed on', 'commits/s', '× no feed'],
      rows: (['none', ...FEEDS] as WriteConfig[]).map((config) => [
        config === 'none' ? 'no feed' : FEED_LABELS[config],
        formatSummary(summarize(writes.get(config) ?? [])),
        formatRatio(summarize(writes.get(config) ?? []).median / summarize(writes.get('none') ?? []).median),
      ]),
      note: `${sizes.writeSeconds} s per run after a 1 s warm-up, ${sizes.runs} run(s); the feed consumes while the writers write, on the same 2 cores.`,
    },
    {
      title: `(d) Heap while one transaction of ${formatNumber(largeRows)} rows (${formatNumber(heap.walBytes / MB)} MB of WAL) streams`,
      headers: ['feed', 'heapUsed before, MB', 'largest heapUsed, MB', 'changes/s'],
      rows: REPLICATION_FEEDS.map((feed) => {
        const entry = heap.heap.get(feed)
        return [FEED_LABELS[feed], formatNumber((entry?.before ?? Number.NaN) / MB), formatNumber((entry?.max ?? Number.NaN) / MB), formatNumber(entry?.perSecond ?? Number.NaN)]
      }),
      note: 'Sampled every 100 ms without forcing a collection; the three feeds read the transaction at the same time. The trigger + NOTIFY feed is left out: the server keeps every notification of a transaction in memory until it commits.',
    },
    {
      title: `(e) Resume across ${resume.kills} kills (SIGKILL) and ${resume.drops} dropped connections`,
      headers: ['feed', 'rows written', 'delivered', 'lost', 'duplicated'],
      rows: FEEDS.map((feed) => {
        const entry = resume.figures.get(feed)
        return [FEED_LABELS[feed], formatNumber(entry?.written ?? Number.NaN), formatNumber(entry?.distinct ?? Number.NaN), String(entry?.lost ?? '–'), String(entry?.duplicates ?? '–')]
      }),
      note: 'A steady stream of transactions of 100 rows (multi-row INSERTs and COPYs in turn, 3 a second). Each feed commits each row into a ledger of its own; rxpg stores its position in the same transaction and resumes after it; pg-logical-replication resumes from its slot (acknowledged once a second); postgres.js makes a new temporary slot; the listener has nothing to resume from.',
    },
    {
      title: `(f) Slot retention with the watched table idle and another one written (${formatNumber(retention.walPerSecond / MB)} MB of WAL/s)`,
      headers: ['feed', 'unacknowledged WAL, median MB', 'max MB', 'retained on disk, median MB', 'max MB'],
      rows: REPLICATION_FEEDS.map((feed) => {
        const entry = retention.figures.get(feed) as RetentionFigures
        const unconfirmed = summarize(entry.unconfirmed)
        const retained = summarize(entry.retained)
        return [FEED_LABELS[feed], formatNumber(unconfirmed.median / MB), formatNumber(unconfirmed.max / MB), formatNumber(retained.median / MB), formatNumber(retained.max / MB)]
      }),
      note: `${sizes.retentionSeconds} s, sampled every 500 ms after ${RETENTION_WARM_UP_MS / 1000} s. rxpg's own view (metrics.lagBytes): median ${formatNumber(summarize(retention.rxpgLag).median / MB)} MB, max ${formatNumber(summarize(retention.rxpgLag).max / MB)} MB. "Retained on disk" follows the server's restart position, which moves with its running-transactions snapshots, not with acknowledgements.`,
    },
  ]
  const rxpgUnconfirmed = summarize(retention.figures.get('rxpg')?.unconfirmed ?? [])
  const rxpgResume = resume.figures.get('rxpg')
  const rxpgHeap = heap.heap.get('rxpg')
  const fastestP99 = Math.min(...peers.map((feed) => p(feed, 'p99').median))
  // Per run, rxpg against the peer that drained fastest in that run (runs interleave, so both shared the machine's state).
  const drainRuns = drain.drain.get('rxpg')?.perSecond.length ?? 0
  const perRun = Array.from({ length: drainRuns }, (_, run) => {
    const at = (feed: Feed, key: keyof DrainFigures) => drain.drain.get(feed)?.[key][run] ?? Number.NaN
    const best = peers.reduce((winner, feed) => (at(feed, 'perSecond') > at(winner, 'perSecond') ? feed : winner), peers[0] as Feed)
    return { rate: at('rxpg', 'perSecond') / at(best, 'perSecond'), cpu: at('rxpg', 'cpuPerChange') / at(best, 'cpuPerChange') }
  })
  const rateRatio = summarize(perRun.map((run) => run.rate))
  const cpuRatio = summarize(perRun.map((run) => run.cpu))
  const writesVsNone = (feed: Feed) => summarize(writes.get(feed) ?? []).median / summarize(writes.get('none') ?? []).median
  const targets: TargetCheck[] = [
    {
      target: 'drain ≥ 1.0× the fastest peer (median of per-run ratios)',
      measured: `${formatRatio(rateRatio.median)} (runs ${rateRatio.values.map(formatRatio).join(', ')}); medians ${formatNumber(drainMedian('rxpg'))} vs ${FEED_LABELS[fastest]} ${formatNumber(drainMedian(fastest))}/s; the server's own decoding of the backlog, no client: ${formatNumber(serverDecoding.median)}/s (rxpg ${formatRatio(drainMedian('rxpg') / serverDecoding.median)} of it)`,
      met: rateRatio.median >= 1,
    },
    {
      target: "CPU per change ≤ the fastest peer's (median of per-run ratios)",
      measured: `${formatRatio(cpuRatio.median)}; medians ${formatNumber(cpuMedian('rxpg'))} vs ${formatNumber(cpuMedian(fastest))} µs`,
      met: cpuRatio.median <= 1,
    },
    {
      target: "commit → callback p99 no worse than the best peer's",
      measured: `${formatNumber(p('rxpg', 'p99').median)} vs ${formatNumber(fastestP99)} ms`,
      met: p('rxpg', 'p99').median <= fastestP99,
    },
    {
      target: `${WRITERS} writers not serialized: commits/s with the feed on ≥ with the trigger + NOTIFY feed`,
      measured: `${formatRatio(writesVsNone('rxpg'))} of no feed; trigger + NOTIFY ${formatRatio(writesVsNone('notify'))}`,
      met: writesVsNone('rxpg') >= writesVsNone('notify'),
    },
    {
      target: `heap ≤ 128 MB while a ${formatNumber(heap.walBytes / 1e9)} GB transaction streams`,
      measured: `${formatNumber((rxpgHeap?.max ?? Number.NaN) / MB)} MB`,
      met: rxpgHeap === undefined ? null : rxpgHeap.max <= 128 * MB,
    },
    {
      target: `0 lost, 0 duplicated across ${resume.kills} kills and ${resume.drops} dropped connections`,
      measured: rxpgResume === undefined ? 'not measured' : `${rxpgResume.lost} lost, ${rxpgResume.duplicates} duplicated of ${formatNumber(rxpgResume.written)}`,
      met: rxpgResume === undefined ? null : rxpgResume.lost === 0 && rxpgResume.duplicates === 0,
    },
    {
      target: '≤ 2 MB unacknowledged WAL while running (watched table idle, others busy)',
      measured: `median ${formatNumber(rxpgUnconfirmed.median / MB)} MB, max ${formatNumber(rxpgUnconfirmed.max / MB)} MB`,
      met: rxpgUnconfirmed.n === 0 ? null : rxpgUnconfirmed.max <= 2 * MB,
    },
  ]
  return {
    id: 'replication',
    title: 'Replication change streams',
    method:
      'Four ways to watch a table, side by side on a dedicated PostgreSQL with wal_level=logical (' +
      measured.version.split(' on ')[0] +
      '): rxpg `changeStream`, pg-logical-replication (pgoutput; acknowledging the last LSN once a second, its fastest setting), postgres.js `subscribe`, and a trigger that NOTIFYs each row to an rxpg listener. Each in a process of its own; rows of ~200 bytes. Method: [docs/benchmarks.md](../docs/benchmarks.md#replication).',
    tables,
    chart: [],
    targets,
    raw: {
      sizes,
      largeRows,
      drain: Object.fromEntries(drain.drain),
      serverDecoding: drain.serverDecoding,
      latency: Object.fromEntries(drain.latency),
      roundTrips: drain.roundTrips,
      writes: Object.fromEntries(writes),
      heap: { walBytes: heap.walBytes, feeds: Object.fromEntries(heap.heap) },
      resume: { kills: resume.kills, drops: resume.drops, feeds: Object.fromEntries(resume.figures) },
      retention: { walPerSecond: retention.walPerSecond, rxpgLag: retention.rxpgLag, feeds: Object.fromEntries(retention.figures) },
    },
  }
}
