/**
 * Commit → handler latency at a steady 500 messages/s: the time from just before the append (or enqueue) to the
 * moment the reader's or worker's handler has the message, for rxpg (a live read, and a consumer group), the
 * hand-written log with a NOTIFY per transaction and a LISTENing reader, graphile-worker tuned, pg-boss tuned.
 */
import pg from 'pg'
import { latencyPercentiles } from '../support/stats.js'
import { formatMs, handWrittenLog, rxpgLog, sleep, type DurableBenchContext, type DurableSection } from './context.js'
import { graphileWorker, pgBoss, type Queue } from './peers.js'

const RATE = 500
const now = () => performance.timeOrigin + performance.now()

/** Sends `total` messages at RATE/s through `send` (not awaited, so a slow commit does not slow the pace). */
async function pace(total: number, send: (value: { t: number; seq: number }) => Promise<unknown>): Promise<void> {
  const start = performance.now()
  const pending: Array<Promise<unknown>> = []
  for (let seq = 0; seq < total; seq++) {
    const due = start + (seq * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    pending.push(send({ t: now(), seq }))
  }
  await Promise.all(pending)
}

async function measure(total: number, setup: (record: (t: number) => void) => Promise<{ send(value: { t: number; seq: number }): Promise<unknown>; close(): Promise<void> }>): Promise<number[]> {
  const latencies: number[] = []
  const peer = await setup((t) => latencies.push(now() - t))
  try {
    await sleep(300) // subscriptions and workers settle
    await pace(total, (value) => peer.send(value))
    const deadline = performance.now() + 10_000
    while (latencies.length < total && performance.now() < deadline) await sleep(20)
    return latencies
  } finally {
    await peer.close()
  }
}

function queuePeer(open: () => Promise<Queue>) {
  return async (record: (t: number) => void) => {
    const queue = await open()
    await queue.work((payloads) => payloads.forEach((p) => record((p as { t: number }).t)))
    return { send: (value: object) => queue.addOne(value), close: () => queue.close() }
  }
}

export async function latencyScenario(context: DurableBenchContext): Promise<DurableSection> {
  const seconds = context.quick ? 4 : 10
  const total = RATE * seconds
  const peers: Array<[string, Parameters<typeof measure>[1]]> = [
    [
      'rxpg read (live), append()',
      async (record) => {
        const setup = await rxpgLog(context)
        const subscription = setup.log.read('latency', { from: 'now' }).subscribe((message) => record((message.value as { t: number }).t))
        return { send: (value) => setup.log.append('latency', value), close: async () => (subscription.unsubscribe(), await setup.close()) }
      },
    ],
    [
      'rxpg consumer group, append()',
      async (record) => {
        const setup = await rxpgLog(context)
        const consumer = setup.log.consume('latency', 'g', (messages) => messages.forEach((message) => record((message.value as { t: number }).t)), { from: 'now' })
        return { send: (value) => setup.log.append('latency', value), close: async () => (await consumer.stop(), await setup.close()) }
      },
    ],
    [
      'hand-written log, NOTIFY per transaction, LISTEN reader (WHERE id > cursor)',
      async (record) => {
        const hand = await handWrittenLog(context.url)
        const writer = new pg.Pool({ connectionString: context.url, max: 8 })
        const reader = new pg.Client({ connectionString: context.url })
        const listener = new pg.Client({ connectionString: context.url })
        await Promise.all([reader.connect(), listener.connect()])
        let cursor = '0'
        let reading = false
        let again = false
        const read = async () => {
          if (reading) return void (again = true)
          reading = true
          do {
            again = false
            const { rows } = await reader.query<{ id: string; payload: { t: number } }>(`SELECT id, payload FROM ${hand.table} WHERE id > $1 ORDER BY id LIMIT 1000`, [cursor])
            for (const row of rows) record(row.payload.t)
            cursor = rows.at(-1)?.id ?? cursor
          } while (again)
          reading = false
        }
        listener.on('notification', () => void read())
        await listener.query('LISTEN bench')
        return {
          send: (value) => writer.query(`WITH inserted AS (INSERT INTO ${hand.table} (channel, payload) VALUES ('bench', $1) RETURNING 1) SELECT pg_notify('bench', '') FROM (SELECT 1) one`, [JSON.stringify(value)]),
          close: async () => {
            await Promise.all([writer.end(), reader.end(), listener.end()])
            await hand.close()
          },
        }
      },
    ],
    ['graphile-worker tuned', queuePeer(() => graphileWorker(context.url, 'tuned'))],
    ['pg-boss tuned', queuePeer(() => pgBoss(context.url, 'tuned'))],
  ]
  const rows: string[][] = []
  const raw: Record<string, unknown> = {}
  let rxpgP99 = Number.NaN
  // Interleaved: each run measures every peer once, so a shared machine's drifting load hits them alike.
  const runsOf = new Map<string, number[][]>(peers.map(([name]) => [name, []]))
  for (let run = 0; run < context.runs; run++) for (const [name, setup] of peers) runsOf.get(name)!.push(await measure(total, setup))
  for (const [name] of peers) {
    const runs = runsOf.get(name) ?? []
    const all = runs.flat()
    const percentiles = latencyPercentiles(all)
    const delivered = Math.min(...runs.map((latencies) => latencies.length))
    raw[name] = { ...percentiles, delivered, sent: total }
    rows.push([name, formatMs(percentiles.p50), formatMs(percentiles.p99), formatMs(percentiles.max), `${delivered} / ${total}`])
    if (name.startsWith('rxpg read')) rxpgP99 = percentiles.p99
    context.log(`latency ${name}: p50 ${formatMs(percentiles.p50)} p99 ${formatMs(percentiles.p99)}`)
  }
  return {
    id: 'latency',
    title: 'Commit → handler latency at 500/s',
    method: `${total.toLocaleString('en-US')} messages per run at a steady ${RATE}/s (${seconds} s), ${context.runs} run(s) pooled; latency from just before the append or enqueue to the handler, in one process (one clock). rxpg with default options (wake-up window 5 ms, poll 1 s).`,
    tables: [{ headers: ['', 'p50', 'p99', 'max', 'delivered (worst run)'], rows }],
    targets: [{ target: 'commit → handler p99 ≤ 10 ms at 500/s', measured: formatMs(rxpgP99), met: rxpgP99 <= 10 }],
    raw,
  }
}
