/**
 * Commit → emission at a steady 1,000 changes/s: one-row INSERTs paced from a pool, each row carrying the
 * writer's clock just before the INSERT is sent; the reader (in the same process, one clock) takes the time
 * when the change is emitted, decoded. rxpg's feeds, and the usual per-row NOTIFY trigger read by a raw pg
 * LISTEN for reference.
 */
import pg from 'pg'
import { Subscription } from 'rxjs'
import { createPgListener } from '../../lib/index.js'
import { tableChanges, type JsonRow } from '../../lib/changes/index.js'
import { latencyPercentiles } from '../support/stats.js'
import { formatMs, sleep } from '../durable/context.js'
import { benchTables, NOTE, type ChangesBenchContext, type ChangesSection, type Variant } from './context.js'

const RATE = 1000
const now = () => performance.timeOrigin + performance.now()
const READERS: readonly Variant[] = ['rxpg durable (statement-level)', 'rxpg durable (row-level)', 'rxpg light', 'per-row NOTIFY of row_to_json(NEW)']

export async function latencyScenario(context: ChangesBenchContext): Promise<ChangesSection> {
  const seconds = context.quick ? 3 : 10
  const runs = context.quick ? 1 : 3
  const total = RATE * seconds
  const setup = await benchTables(context, ['no trigger', ...READERS])
  const samples = new Map<Variant, number[][]>(READERS.map((variant) => [variant, []]))
  const writers = new pg.Pool({ connectionString: context.url, max: 8 })
  const listener = createPgListener(context.url)
  const readerPool = new pg.Pool({ connectionString: context.url, max: 4 })
  try {
    for (let run = 0; run < runs; run++) {
      for (let i = 0; i < READERS.length; i++) {
        const variant = READERS[(i + run) % READERS.length] as Variant
        await setup.reset()
        const latencies: number[] = []
        const table = setup.tables[variant]
        const reader = new Subscription()
        if (variant === 'per-row NOTIFY of row_to_json(NEW)') {
          const client = new pg.Client({ connectionString: context.url })
          await client.connect()
          client.on('notification', (n) => latencies.push(now() - (JSON.parse(n.payload ?? '{}') as { sent_at: number }).sent_at))
          await client.query(`LISTEN "${table.split('.')[1]}"`)
          reader.add(() => void client.end())
        } else {
          const spec = setup.specs[variant]!
          reader.add(
            tableChanges({ listener, pool: readerPool }, spec.carrier === 'light' ? spec : { ...spec, from: 'now' }).subscribe((change) => {
              const row = change.new?._tag === 'Right' ? (change.new.right as JsonRow) : undefined
              if (typeof row?.sent_at === 'number') latencies.push(now() - row.sent_at)
            }),
          )
        }
        await sleep(500) // the reader's catalog check, LISTEN and first read
        const start = performance.now()
        const pending: Array<Promise<unknown>> = []
        for (let seq = 0; seq < total; seq++) {
          const wait = start + (seq * 1000) / RATE - performance.now()
          if (wait > 1) await sleep(wait)
          pending.push(writers.query(`INSERT INTO ${table} (customer, status, total, note, sent_at) VALUES ($1, 'placed', 12.50, $2, $3)`, [seq, NOTE, now()]))
        }
        await Promise.all(pending)
        const deadline = performance.now() + 10_000
        while (latencies.length < total && performance.now() < deadline) await sleep(20)
        reader.unsubscribe()
        samples.get(variant)!.push(latencies)
        const percentiles = latencyPercentiles(latencies)
        context.log(`latency ${variant}: p50 ${formatMs(percentiles.p50)} p99 ${formatMs(percentiles.p99)} (${latencies.length}/${total})`)
      }
    }
  } finally {
    await listener.close()
    await Promise.all([writers.end(), readerPool.end()])
    await setup.close()
  }
  const rows: string[][] = []
  const raw: Record<string, unknown> = {}
  const durable = new Map<Variant, { p50: number; p99: number }>()
  for (const variant of READERS) {
    const runsOf = samples.get(variant) ?? []
    const percentiles = latencyPercentiles(runsOf.flat())
    const delivered = Math.min(...runsOf.map((latencies) => latencies.length))
    raw[variant] = { ...percentiles, delivered, sent: total }
    rows.push([variant, formatMs(percentiles.p50), formatMs(percentiles.p99), formatMs(percentiles.max), `${delivered} / ${total}`])
    if (variant.startsWith('rxpg durable')) durable.set(variant, percentiles)
  }
  return {
    id: 'latency',
    title: 'Commit → emission at 1,000 changes/s',
    method: `${total.toLocaleString('en-US')} one-row INSERTs per run at a steady ${RATE}/s from a pool of 8 (${seconds} s), ${runs} run(s) pooled, readers interleaved; latency from just before the INSERT is sent (so it includes the statement's trip and its commit) to the emission of the decoded change, in one process. rxpg with default options (wake window 5 ms, poll 1 s).`,
    tables: [{ headers: ['', 'p50', 'p99', 'max', 'delivered (worst run)'], rows }],
    targets: [...durable].flatMap(([variant, { p50, p99 }]) => {
      const which = variant.replace('rxpg durable', 'durable carrier')
      return [
        { target: `${which}: commit → emission p50 ≤ 5 ms at 1,000 changes/s`, measured: formatMs(p50), met: p50 <= 5 },
        { target: `${which}: commit → emission p99 ≤ 25 ms at 1,000 changes/s`, measured: formatMs(p99), met: p99 <= 25 },
      ]
    }),
    raw,
  }
}
