/**
 * Reading a backlog: rxpg `read` from 'earliest' and `fetch` pages, the hand-written reader (`WHERE id > cursor`,
 * 1000 rows a page), and the queues working the same number of jobs with a no-op handler (tuned and defaults;
 * a slow configuration is measured over a bounded window).
 */
import pg from 'pg'
import { count, firstValueFrom, take } from 'rxjs'
import { collectGarbage, figuresOf, GARBAGE_NOTE, handWrittenLog, payload, rate, rxpgRate, sleep, type DurableBenchContext, type DurableSection, type RxpgSetup } from './context.js'
import { graphileWorker, pgBoss, type Queue, type Tuning } from './peers.js'

/**
 * Appends `count` values through append$ and waits until they are readable; then gathers the log's planner
 * statistics (`analyze`, default true), as autovacuum does within a minute of a bulk load, so that readers are
 * measured in their steady state. Every table a baseline reads is analyzed the same way.
 */
export async function preload(setup: RxpgSetup, channel: string, count: number, analyze = true): Promise<void> {
  for (let i = 0; i < count - 1; i++) setup.log.append$.next({ channel, value: payload(i), key: `k${i % 64}` })
  await setup.log.append(channel, payload(count - 1), { key: 'k0' })
  if (analyze) await setup.pool.query(`ANALYZE "${setup.schema}".durable_log`)
}

/** Jobs worked per second by `queue` with a no-op handler, for a preloaded backlog of `count`, within `limitMs`. */
export async function queueWorkRate(open: () => Promise<Queue>, count: number, limitMs: number): Promise<number> {
  const queue = await open()
  try {
    for (let i = 0; i < count; i += 500) await queue.addMany(Array.from({ length: Math.min(500, count - i) }, (_, j) => payload(i + j)))
    let done = 0
    collectGarbage()
    const start = performance.now()
    await queue.work((payloads) => void (done += payloads.length))
    while (done < count && performance.now() - start < limitMs) await sleep(20)
    return rate(done, performance.now() - start)
  } finally {
    await queue.close()
  }
}

export function queueOpeners(url: string): Array<[string, () => Promise<Queue>]> {
  const tunings: Tuning[] = ['tuned', 'defaults']
  return tunings.flatMap((tuning): Array<[string, () => Promise<Queue>]> => [
    [`graphile-worker ${tuning}, no-op handler`, () => graphileWorker(url, tuning)],
    [`pg-boss ${tuning}, no-op handler`, () => pgBoss(url, tuning)],
  ])
}

export async function replayScenario(context: DurableBenchContext): Promise<DurableSection> {
  const backlog = context.quick ? 10_000 : 100_000
  const queueJobs = context.quick ? 5_000 : 20_000
  const queueLimitMs = context.quick ? 5_000 : 15_000
  const { figures, record, measureAll, ratio, table } = figuresOf(context, 'replay')

  const load = (setup: RxpgSetup) => preload(setup, 'bench', backlog)
  // Counted, not kept (as fetch's pages and the hand-written reader's rows are not): holding 100,000 parsed
  // values would measure the garbage collector walking them.
  const readAll = (setup: RxpgSetup) => firstValueFrom(setup.log.read('bench', { from: 'earliest' }).pipe(take(backlog), count()))
  record('rxpg read from earliest', () => rxpgRate(context, backlog, { prepare: load, measure: readAll }))
  record('rxpg read from earliest, log not analyzed yet', () => rxpgRate(context, backlog, { prepare: (setup) => preload(setup, 'bench', backlog, false), measure: readAll }))
  record('rxpg fetch, 1000 per page', () =>
    rxpgRate(context, backlog, {
      prepare: load,
      measure: async (setup) => {
        let seen = 0
        for (let after = 'earliest'; seen < backlog; ) {
          const page = await setup.log.fetch('bench', { after, limit: 1000 })
          seen += page.messages.length
          after = page.next
        }
      },
    }),
  )
  for (const analyzed of [true, false]) {
    record(`hand-written reader, WHERE id > cursor, 1000 per page${analyzed ? '' : ', table not analyzed yet'}`, async () => {
      const hand = await handWrittenLog(context.url)
      const client = new pg.Client({ connectionString: context.url })
      await client.connect()
      try {
        for (let i = 0; i < backlog; i += 1000) {
          await client.query(`INSERT INTO ${hand.table} (channel, payload) SELECT 'bench', p FROM unnest($1::json[]) AS p`, [
            Array.from({ length: Math.min(1000, backlog - i) }, (_, j) => JSON.stringify(payload(i + j))),
          ])
        }
        if (analyzed) await client.query(`ANALYZE ${hand.table}`)
        collectGarbage()
        const start = performance.now()
        let cursor = '0'
        let seen = 0
        while (seen < backlog) {
          const { rows } = await client.query<{ id: string; payload: unknown }>(`SELECT id, payload FROM ${hand.table} WHERE channel = 'bench' AND id > $1 ORDER BY id LIMIT 1000`, [cursor])
          seen += rows.length
          cursor = rows.at(-1)?.id ?? cursor
        }
        return rate(backlog, performance.now() - start)
      } finally {
        await client.end()
        await hand.close()
      }
    })
  }
  for (const [name, open] of queueOpeners(context.url)) record(name, () => queueWorkRate(open, queueJobs, queueLimitMs))

  await measureAll()
  const overHand = ratio('rxpg read from earliest', 'hand-written reader, WHERE id > cursor, 1000 per page')
  const overGraphile = ratio('rxpg read from earliest', 'graphile-worker tuned, no-op handler')
  return {
    id: 'replay',
    title: 'Replay',
    method: `A backlog of ${backlog.toLocaleString('en-US')} values of ~1 KiB read from the start (values parsed from JSON), median of ${context.runs} run(s) (ratios: medians of per-run ratios). The queues work ${queueJobs.toLocaleString('en-US')} preloaded jobs with a no-op handler (a configuration that cannot finish is measured over ${queueLimitMs / 1000} s). The logs are analyzed after loading (as autovacuum does within a minute); the "not analyzed yet" rows read right after the load, when the planner has no statistics on the new rows. ${GARBAGE_NOTE}`,
    tables: [table(['', 'rate (median)', 'min–max'])],
    targets: [
      { target: 'replay ≥ 1.0× the hand-written reader', measured: `${overHand.toFixed(2)}×`, met: overHand >= 1 },
      { target: 'replay ≥ 5× graphile-worker tuned', measured: `${overGraphile.toFixed(1)}×`, met: overGraphile >= 5 },
    ],
    raw: figures,
  }
}
