/**
 * What every durable-channel benchmark shares: the server, sizes (full or quick), 1 KiB JSON payloads, fresh
 * schemas, an rxpg log, the hand-written log table, and how a section reports.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import pg from 'pg'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog, type DurableLogOptions } from '../../lib/durable/index.js'
import { startEmbeddedServer } from '../../support/embedded-server.js'
import { pairedRatios, type Table, type TargetCheck } from '../scenarios/common.js'
import { summarize } from '../support/stats.js'
import { adminQuery } from '../../spec/support/database.js'

export interface DurableBenchContext {
  readonly url: string
  readonly quick: boolean
  /** Runs per figure (median reported). */
  readonly runs: number
  readonly log: (line: string) => void
}

export interface DurableSection {
  readonly id: string
  readonly title: string
  readonly method: string
  readonly tables: readonly Table[]
  readonly targets: readonly TargetCheck[]
  readonly raw: unknown
}

/** A ~1 KiB JSON value, distinct per sequence number. */
export function payload(seq: number): { seq: number; t: number; kind: string; body: string } {
  return { seq, t: Date.now(), kind: 'order.created', body: `ord_${seq}_`.padEnd(960, 'x') }
}

let schemas = 0
/** A schema name nobody else uses, for one run of one peer. */
export function freshSchema(prefix: string): string {
  return `bench_${prefix}_${process.pid}_${++schemas}`
}

export async function query<Row extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<Row[]> {
  return adminQuery<Row>(text, values, url)
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await query(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
}

export interface RxpgSetup {
  readonly schema: string
  readonly listener: PgListener
  readonly pool: pg.Pool
  readonly log: DurableLog
  close(): Promise<void>
}

/** An rxpg durable log in a fresh schema, installed; `close()` drops the schema. */
export async function rxpgLog(context: DurableBenchContext, options: Partial<DurableLogOptions> = {}, poolSize = 10): Promise<RxpgSetup> {
  const schema = freshSchema('rxpg')
  const listener = createPgListener(context.url)
  const pool = new pg.Pool({ connectionString: context.url, max: poolSize })
  pool.on('error', () => undefined)
  const log = createDurableLog({ listener, pool, schema, stall: false, ...options })
  await log.ensureSchema()
  return {
    schema,
    listener,
    pool,
    log,
    async close() {
      await log.close()
      await listener.close()
      await pool.end()
      await dropSchema(context.url, schema)
    },
  }
}

/**
 * The hand-written log table a user would write: a bigserial id, the channel, the payload as json, a time.
 * Read with `WHERE id > cursor` (the fast but unsafe way, see docs/durable.md).
 */
export async function handWrittenLog(url: string): Promise<{ schema: string; table: string; close(): Promise<void> }> {
  const schema = freshSchema('hand')
  const table = `"${schema}".log`
  await query(url, `CREATE SCHEMA "${schema}"; CREATE TABLE ${table} (id bigserial PRIMARY KEY, channel text NOT NULL, payload json NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
  return { schema, table, close: () => dropSchema(url, schema) }
}

/** Opens an rxpg log, runs `prepare` (untimed) then `measure` (timed), closes it; returns `count` per second. */
export async function rxpgRate(
  context: DurableBenchContext,
  count: number,
  work: { readonly options?: Partial<DurableLogOptions>; prepare?(setup: RxpgSetup): Promise<unknown>; measure(setup: RxpgSetup): Promise<unknown> },
): Promise<number> {
  const setup = await rxpgLog(context, work.options)
  try {
    await work.prepare?.(setup)
    collectGarbage()
    const start = performance.now()
    await work.measure(setup)
    return rate(count, performance.now() - start)
  } finally {
    await setup.close()
  }
}

/**
 * A full garbage collection, run right before each timed part: the untimed setup before it (a preload of
 * 100,000 values queued at once, jobs added) leaves garbage that the next collection must walk, and whichever
 * variant runs right after the larger setup would pay for it. V8's own `gc`, exposed at run time.
 */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** What the sections' methods say of `collectGarbage`. */
export const GARBAGE_NOTE = 'Each timed part starts after a full garbage collection, so that none pays for the garbage of the untimed setup before it.'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs `measure` `runs` times and returns every figure. */
export async function repeat(runs: number, measure: (run: number) => Promise<number>): Promise<number[]> {
  const figures: number[] = []
  for (let run = 0; run < runs; run++) figures.push(await measure(run))
  return figures
}

/** The server's `fsync` setting (`on` or `off`). */
async function fsyncOf(url: string): Promise<string> {
  const [row] = await query<{ fsync: string }>(url, 'SHOW fsync')
  return row?.fsync ?? 'unknown'
}

export interface WriterServers {
  /** Each with its label (`fsync on`, `fsync off`). */
  readonly servers: ReadonlyArray<{ readonly label: string; readonly url: string }>
  /** True when a second server with fsync on was started for the run. */
  readonly flushed: boolean
  /** Stops the server started for the run, if any. */
  destroy(): Promise<void>
}

/**
 * Where writer benchmarks run: a second embedded server with fsync on (commits wait for the disk, as in
 * production, and NOTIFY's commit lock serializes those waits) and the run's own (fsync off: commits nearly
 * free); with DATABASE_URL, that server alone, labelled with its setting.
 */
export async function writerServers(url: string): Promise<WriterServers> {
  if (process.env.DATABASE_URL) return { servers: [{ label: `fsync ${await fsyncOf(url)}`, url }], flushed: false, destroy: async () => undefined }
  const flushed = await startEmbeddedServer({ settings: { fsync: 'on' } })
  return { servers: [{ label: 'fsync on', url: flushed.url }, { label: 'fsync off', url }], flushed: true, destroy: () => flushed.destroy() }
}

export const rate = (count: number, ms: number) => (count * 1000) / ms
export const formatRate = (value: number) => (Number.isFinite(value) ? `${Math.round(value).toLocaleString('en-US')}/s` : 'n/a')
export const formatMs = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a')

/**
 * Figures of one section. `record(name, measure)` registers a measurement; `measureAll()` runs every one
 * `runs` times, interleaved (each run measures every peer once, in an order rotated from run to run), so the
 * drifting load of a shared machine hits all peers alike; then each median is logged.
 */
export function figuresOf(context: DurableBenchContext, section: string) {
  const figures: Record<string, number[]> = {}
  const measures: Array<readonly [string, () => Promise<number>]> = []
  return {
    figures,
    median: (name: string) => summarize(figures[name] ?? []).median,
    /**
     * `name`'s figure over `baseline`'s: the median of the ratios within each run (both measured in the same
     * run, close together), which a drift of the shared machine's load between runs moves much less than a
     * ratio of the two medians.
     */
    ratio: (name: string, baseline: string) => summarize(pairedRatios(figures[name] ?? [], figures[baseline] ?? [])).median,
    record(name: string, measure: () => Promise<number>): void {
      measures.push([name, measure])
      figures[name] = []
    },
    async measureAll(): Promise<void> {
      for (let run = 0; run < context.runs; run++) {
        for (let i = 0; i < measures.length; i++) {
          const [name, measure] = measures[(i + run) % measures.length] as readonly [string, () => Promise<number>]
          figures[name]!.push(await measure())
        }
      }
      for (const [name] of measures) context.log(`${section} ${name}: ${formatRate(summarize(figures[name] ?? []).median)}`)
    },
    /** One table row per figure: name, median, spread. */
    table(headers: readonly string[]): Table {
      return {
        headers,
        rows: Object.entries(figures).map(([name, values]) => {
          const s = summarize(values)
          return [name, formatRate(s.median), `${formatRate(s.min)} – ${formatRate(s.max)}`]
        }),
      }
    },
  }
}
