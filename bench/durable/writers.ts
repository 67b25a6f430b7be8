/**
 * 32 concurrent writers, each committing small transactions as fast as it can: a business INSERT plus the
 * message. Compared: the message as a plain INSERT into a log table (no NOTIFY: the ceiling), the same plus a
 * NOTIFY in every transaction (what a writer-side wake-up costs: the commit lock), and rxpg (`log.transaction`
 * with `append(..., { client })`, woken after commit, coalesced).
 */
import pg from 'pg'
import { summarize } from '../support/stats.js'
import { formatRate, handWrittenLog, payload, query, rate, repeat, rxpgLog, type DurableBenchContext, type DurableSection } from './context.js'

const WRITERS = 32

/** Runs `transaction` on WRITERS clients for `ms`; returns commits per second. */
async function hammer(ms: number, transaction: (writer: number, seq: number) => Promise<void>): Promise<number> {
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
  const figures: Record<string, number[]> = {}
  const variants = [
    'plain log INSERT, no NOTIFY',
    'log INSERT + NOTIFY in each transaction',
    'rxpg log.transaction + append({ client })',
    "rxpg's log table, the same INSERT by hand (no library, no wake-up)",
  ] as const
  for (const variant of variants) figures[variant] = []

  // Interleaved: each run measures every variant once, so a busy machine's drift hits them alike.
  await repeat(context.runs, async () => {
    const hand = await handWrittenLog(context.url)
    const business = `"${hand.schema}".business`
    await query(context.url, `CREATE TABLE ${business} (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL)`)
    const clients = await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        const client = new pg.Client({ connectionString: context.url })
        await client.connect()
        return client
      }),
    )
    const setup = await rxpgLog(context, {}, WRITERS)
    try {
      for (const notify of [false, true]) {
        const figure = await hammer(ms, async (writer, seq) => {
          const client = clients[writer]!
          await client.query('BEGIN')
          await client.query(`INSERT INTO ${business} (writer, seq) VALUES ($1, $2)`, [writer, seq])
          await client.query(
            notify
              ? `WITH inserted AS (INSERT INTO ${hand.table} (channel, payload) VALUES ('bench', $1) RETURNING 1) SELECT pg_notify('bench', '') FROM (SELECT 1) one`
              : `INSERT INTO ${hand.table} (channel, payload) VALUES ('bench', $1)`,
            [JSON.stringify(payload(seq))],
          )
          await client.query('COMMIT')
        })
        figures[variants[notify ? 1 : 0]]!.push(figure)
      }
      const rxpgFigure = await hammer(ms, (writer, seq) =>
        setup.log.transaction(async (client) => {
          await client.query(`INSERT INTO ${business} (writer, seq) VALUES ($1, $2)`, [writer, seq])
          await setup.log.append('bench', payload(seq), { client })
        }),
      )
      figures[variants[2]]!.push(rxpgFigure)
      // What the log row itself costs (transaction id, the position index, partition routing), without the library.
      const table = `"${setup.schema}".durable_log`
      figures[variants[3]]!.push(
        await hammer(ms, async (writer, seq) => {
          const client = clients[writer]!
          await client.query('BEGIN')
          await client.query(`INSERT INTO ${business} (writer, seq) VALUES ($1, $2)`, [writer, seq])
          await client.query(`INSERT INTO ${table} (channel, part, key, value) VALUES ('bench', 0, NULL, $1::json) RETURNING epoch, tx::text, id::text`, [JSON.stringify(payload(seq))])
          await client.query('COMMIT')
        }),
      )
      context.log(`writers: ${variants.map((variant) => `${variant} ${formatRate(figures[variant]!.at(-1)!)}`).join('; ')}`)
      return rxpgFigure
    } finally {
      await Promise.all(clients.map((client) => client.end()))
      await setup.close()
      await hand.close()
    }
  })

  const m = (variant: (typeof variants)[number]) => summarize(figures[variant] ?? []).median
  const plain = m(variants[0])
  const notify = m(variants[1])
  const rxpg = m(variants[2])
  return {
    id: 'writers',
    title: '32 concurrent appending writers',
    method: `${WRITERS} connections, each committing \`BEGIN; INSERT business row; <message>; COMMIT\` in a loop for ${ms / 1000} s; the variants interleaved in each of ${context.runs} run(s); medians. The last row inserts into rxpg's log table by hand, to tell the cost of the row (its transaction id, the position index, partition routing) from the library's.`,
    tables: [
      {
        headers: ['', 'commits/s (median)', 'min–max', 'vs plain'],
        rows: variants.map((variant) => {
          const s = summarize(figures[variant] ?? [])
          return [variant, formatRate(s.median), `${formatRate(s.min)} – ${formatRate(s.max)}`, `${(s.median / plain).toFixed(2)}×`]
        }),
      },
    ],
    targets: [
      { target: '32 writers keep ≥ 0.9× the commits/s of a plain log insert without NOTIFY', measured: `${(rxpg / plain).toFixed(2)}×`, met: rxpg >= 0.9 * plain },
      { target: '≥ 2× a design that NOTIFYs in every transaction', measured: `${(rxpg / notify).toFixed(2)}×`, met: rxpg >= 2 * notify },
    ],
    raw: figures,
  }
}
