/**
 * 32 concurrent writers, each committing small transactions as fast as it can: a business INSERT plus the
 * message. Compared: the message as a plain INSERT into a log table (no NOTIFY: the ceiling), the same plus a
 * NOTIFY in every transaction (what a writer-side wake-up costs: the commit lock), and rxpg (`log.transaction`
 * with `append(..., { client })`, woken after commit, coalesced).
 *
 * Measured twice: on a second embedded server with fsync on (commits wait for the disk, as in production, and
 * NOTIFY's commit lock serializes those waits), and on the run's own server with fsync off (commits nearly
 * free: what the rows themselves cost shows the most).
 */
import pg from 'pg'
import { pairedRatios, rotate } from '../scenarios/common.js'
import { summarize } from '../support/stats.js'
import { formatRate, handWrittenLog, payload, query, rate, rxpgLog, writerServers, type DurableBenchContext, type DurableSection } from './context.js'

const WRITERS = 32
/** Untimed, before each measurement. */
const WARM_UP_MS = 1000

/** Runs `transaction` on WRITERS clients for `ms`; returns commits per second. */
async function hammer(ms: number, transaction: (writer: number, seq: number) => Promise<unknown>): Promise<number> {
  let commits = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let seq = 0; performance.now() - start < ms; seq++) {
        await transaction(writer, seq)
        commits++
      }
    }),
  )
  return rate(commits, performance.now() - start)
}

export async function writersScenario(context: DurableBenchContext): Promise<DurableSection> {
  const ms = context.quick ? 3_000 : 10_000
  const variants = [
    'plain log INSERT, no NOTIFY',
    'log INSERT + NOTIFY in each transaction',
    'rxpg log.transaction + append({ client })',
    "rxpg's log table, the same INSERT by hand (no library, no wake-up)",
  ] as const
  type Variant = (typeof variants)[number]
  const { servers, flushed, destroy } = await writerServers(context.url)
  const figures: Record<string, number[]> = {}
  const key = (server: string, variant: Variant) => `${server}|${variant}`

  try {
    for (const server of servers) {
      // Interleaved: each run measures every variant once, so a busy machine's drift hits them alike.
      for (let run = 0; run < context.runs; run++) {
        const record = (variant: Variant, figure: number) => (figures[key(server.label, variant)] ??= []).push(figure)
        const hand = await handWrittenLog(server.url)
        const business = `"${hand.schema}".business`
        await query(server.url, `CREATE TABLE ${business} (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL)`)
        const clients = await Promise.all(
          Array.from({ length: WRITERS }, async () => {
            const client = new pg.Client({ connectionString: server.url })
            await client.connect()
            return client
          }),
        )
        const setup = await rxpgLog({ ...context, url: server.url }, {}, WRITERS)
        try {
          /** One transaction of each variant: a business row and the message. */
          const byHand = (message: (client: pg.Client, seq: number) => Promise<unknown>) => async (writer: number, seq: number) => {
            const client = clients[writer]!
            await client.query('BEGIN')
            await client.query(`INSERT INTO ${business} (writer, seq) VALUES ($1, $2)`, [writer, seq])
            await message(client, seq)
            await client.query('COMMIT')
          }
          // What the log row itself costs (transaction id, the position index, partition routing), without the library.
          const table = `"${setup.schema}".durable_log`
          const transactions: Record<Variant, (writer: number, seq: number) => Promise<unknown>> = {
            [variants[0]]: byHand((client, seq) => client.query(`INSERT INTO ${hand.table} (channel, payload) VALUES ('bench', $1)`, [JSON.stringify(payload(seq))])),
            [variants[1]]: byHand((client, seq) =>
              client.query(`WITH inserted AS (INSERT INTO ${hand.table} (channel, payload) VALUES ('bench', $1) RETURNING 1) SELECT pg_notify('bench', '') FROM (SELECT 1) one`, [JSON.stringify(payload(seq))]),
            ),
            [variants[2]]: (writer, seq) =>
              setup.log.transaction(async (client) => {
                await client.query(`INSERT INTO ${business} (writer, seq) VALUES ($1, $2)`, [writer, seq])
                await setup.log.append('bench', payload(seq), { client })
              }),
            [variants[3]]: byHand((client, seq) => client.query(`INSERT INTO ${table} (channel, part, key, value) VALUES ('bench', 0, NULL, $1::json) RETURNING epoch, tx::text, id::text`, [JSON.stringify(payload(seq))])),
          }
          // In another order in each run, so that no variant always takes the same place in a run (the plain insert
          // was always measured first and rxpg third, after what the variants before it left to vacuum and flush).
          // Each warmed up untimed first (its tables' first pages, plans, the server's state after the variant
          // before): a variant measured first in a run ran well below its other runs, whichever it was.
          for (const variant of rotate(variants, run)) {
            await hammer(WARM_UP_MS, transactions[variant])
            record(variant, await hammer(ms, transactions[variant]))
          }
          context.log(`writers ${server.label}, run ${run + 1}/${context.runs}: ${variants.map((variant) => `${variant} ${formatRate(figures[key(server.label, variant)]!.at(-1)!)}`).join('; ')}`)
        } finally {
          await Promise.all(clients.map((client) => client.end()))
          await setup.close()
          await hand.close()
        }
      }
    }
  } finally {
    await destroy()
  }

  /** The median over runs of the per-run ratio (both figures from the same run). */
  const ratio = (server: string, variant: Variant, reference: Variant) =>
    summarize(pairedRatios(figures[key(server, variant)] ?? [], figures[key(server, reference)] ?? [])).median
  return {
    id: 'writers',
    title: '32 concurrent appending writers',
    method: `${WRITERS} connections, each committing \`BEGIN; INSERT business row; <message>; COMMIT\` in a loop for ${ms / 1000} s; the variants interleaved in each of ${context.runs} run(s), in another order in each, each after ${WARM_UP_MS / 1000} s untimed; medians, and ratios as medians of per-run ratios. The last row inserts into rxpg's log table by hand, to tell the cost of the row (its transaction id, the position index, partition routing) from the library's. ${servers.map((server) => server.label).join(' and ')}${flushed ? ": a second embedded server with fsync on (commits wait for the disk, as in production, and NOTIFY's commit lock serializes those waits), and the run's own with fsync off (commits nearly free: what the rows cost shows the most)" : ''}.`,
    tables: servers.map((server) => ({
      title: `${server.label}: commits/s`,
      headers: ['', 'commits/s (median)', 'min–max', 'vs plain'],
      rows: variants.map((variant) => {
        const s = summarize(figures[key(server.label, variant)] ?? [])
        return [variant, formatRate(s.median), `${formatRate(s.min)} – ${formatRate(s.max)}`, `${ratio(server.label, variant, variants[0]).toFixed(2)}×`]
      }),
    })),
    targets: servers.flatMap((server) => {
      const plain = ratio(server.label, variants[2], variants[0])
      const notify = ratio(server.label, variants[2], variants[1])
      return [
        { target: `32 writers keep ≥ 0.9× the commits/s of a plain log insert without NOTIFY, ${server.label}`, measured: `${plain.toFixed(2)}×`, met: plain >= 0.9 },
        { target: `≥ 2× a design that NOTIFYs in every transaction, ${server.label}`, measured: `${notify.toFixed(2)}×`, met: notify >= 2 },
      ]
    }),
    raw: figures,
  }
}
