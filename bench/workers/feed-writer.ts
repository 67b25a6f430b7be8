/**
 * The writer of the replication scenario: rows of ~200 bytes into the watched table (bulk, paced with the
 * send time in each row, by 32 concurrent writers, one huge transaction, a steady stream of multi-row INSERTs
 * and COPYs), and WAL into an unrelated table.
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import postgres from 'postgres'
import { FEED_TABLE } from '../feeds/types.js'
import { nowNs } from '../support/payload.js'
import { latencyPercentiles, type LatencyPercentiles } from '../support/stats.js'
import { serveWorker } from '../support/worker.js'

/** ~150 characters: with the id, send time and kind, a row of ~200 bytes. */
const PAYLOAD = 'order.created:'.padEnd(150, 'abcdefghij')
const insertOne = { name: 'feed_insert_one', text: `INSERT INTO ${FEED_TABLE} (id, t, kind, payload) VALUES ($1, $2, 'order.created', $3)` }
const insertRange = `INSERT INTO ${FEED_TABLE} (id, t, kind, payload) SELECT g, 0, 'order.created', repeat(md5(g::text), 5) FROM generate_series($1::int, $2::int) AS g`

let url = ''
let client: pg.Client | undefined
let streaming: { stop: boolean; written: number; done: Promise<void> } | undefined

async function connection(): Promise<pg.Client> {
  if (client === undefined) {
    const created = new pg.Client({ connectionString: url })
    created.on('error', () => (client = undefined))
    await created.connect()
    client = created
  }
  return client
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

serveWorker(
  {
    connect: async (args: { url: string }) => {
      url = args.url
      await connection()
      return null
    },
    /** `count` rows with ids from `idStart`, `perTransaction` per statement. */
    bulk: async ({ count, perTransaction, idStart }: { count: number; perTransaction: number; idStart: number }) => {
      const db = await connection()
      const started = nowNs()
      for (let first = idStart; first < idStart + count; first += perTransaction) {
        await db.query(insertRange, [first, Math.min(first + perTransaction, idStart + count) - 1])
      }
      return { elapsedNs: nowNs() - started }
    },
    /** One row per transaction at `rate` rows/s, each carrying its send time; the INSERT round trips, ms. */
    paced: async ({ count, rate, idStart }: { count: number; rate: number; idStart: number }): Promise<LatencyPercentiles> => {
      const db = await connection()
      const roundTrips = new Float64Array(count)
      const start = nowNs()
      for (let index = 0; index < count; index++) {
        const due = start + (index * 1e9) / rate
        const wait = (due - nowNs()) / 1e6
        if (wait > 1) await sleep(wait)
        const sent = nowNs()
        await db.query({ ...insertOne, values: [idStart + index, sent, PAYLOAD] })
        roundTrips[index] = (nowNs() - sent) / 1e6
      }
      return latencyPercentiles(roundTrips)
    },
    /** `writers` connections inserting one row per transaction, as fast as they can, for `durationMs`. */
    concurrent: async ({ writers, durationMs, idStart }: { writers: number; durationMs: number; idStart: number }) => {
      const clients = await Promise.all(
        Array.from({ length: writers }, async () => {
          const writer = new pg.Client({ connectionString: url })
          writer.on('error', () => undefined)
          await writer.connect()
          return writer
        }),
      )
      let next = idStart
      let commits = 0
      const started = nowNs()
      const deadline = started + durationMs * 1e6
      await Promise.all(
        clients.map(async (writer) => {
          while (nowNs() < deadline) {
            await writer.query({ ...insertOne, values: [next++, 0, PAYLOAD] })
            commits += 1
          }
        }),
      )
      const elapsedNs = nowNs() - started
      await Promise.all(clients.map((writer) => writer.end().catch(() => undefined)))
      return { commits, elapsedNs, nextId: next }
    },
    /** Rows into an unrelated table, about `bytesPerSecond` of them (plus WAL overhead), for `durationMs`. */
    churn: async ({ durationMs, bytesPerSecond }: { durationMs: number; bytesPerSecond: number }) => {
      const db = await connection()
      const rowsPerTick = Math.max(1, Math.round(bytesPerSecond / 10 / 200))
      const started = nowNs()
      let ticks = 0
      while (nowNs() - started < durationMs * 1e6) {
        await db.query(`INSERT INTO bench_busy (body) SELECT repeat(md5(g::text), 5) FROM generate_series(1, $1::int) AS g`, [rowsPerTick])
        ticks += 1
        const wait = (started + ticks * 1e8 - nowNs()) / 1e6
        if (wait > 0) await sleep(wait)
      }
      return { rows: ticks * rowsPerTick }
    },
    /** One transaction of `rows` rows. */
    large: async ({ rows, idStart }: { rows: number; idStart: number }) => {
      const db = await connection()
      const started = nowNs()
      await db.query(insertRange, [idStart, idStart + rows - 1])
      return { elapsedNs: nowNs() - started }
    },
    /**
     * A steady stream of transactions of `perTransaction` rows, multi-row INSERTs and COPYs in turn (many
     * changes on one LSN), `perSecond` transactions a second, until `streamStop`.
     */
    streamStart: ({ perTransaction, perSecond, idStart }: { perTransaction: number; perSecond: number; idStart: number }) => {
      const sql = postgres(url, { max: 1, onnotice: () => undefined })
      const state = { stop: false, written: 0, done: Promise.resolve() }
      state.done = (async () => {
        const db = await connection()
        const started = nowNs()
        for (let index = 0; !state.stop; index++) {
          const first = idStart + state.written
          if (index % 2 === 0) {
            await db.query(insertRange, [first, first + perTransaction - 1])
          } else {
            const lines = Array.from({ length: perTransaction }, (_, offset) => `${first + offset}\t0\torder.created\t${PAYLOAD}\n`)
            await pipeline(Readable.from(lines), await sql`COPY ${sql(FEED_TABLE)} (id, t, kind, payload) FROM STDIN`.writable())
          }
          state.written += perTransaction
          const wait = (started + ((index + 1) * 1e9) / perSecond - nowNs()) / 1e6
          if (wait > 0) await sleep(wait)
        }
        await sql.end({ timeout: 1 })
      })()
      streaming = state
      return null
    },
    streamStop: async () => {
      const state = streaming
      if (state === undefined) throw new Error('no stream')
      state.stop = true
      await state.done
      streaming = undefined
      return { written: state.written }
    },
    streamWritten: () => streaming?.written ?? 0,
  },
  async () => {
    await client?.end().catch(() => undefined)
  },
)
