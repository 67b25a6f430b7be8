/**
 * Append throughput, 1 KiB JSON values: batched (rxpg append$, hand-written 100-row INSERTs with and without a
 * NOTIFY per transaction, pg-boss insert, graphile-worker addJobs) and one at a time (rxpg append, pg-boss
 * send, graphile-worker addJob), each awaited before the next.
 */
import pg from 'pg'
import { collectGarbage, figuresOf, GARBAGE_NOTE, handWrittenLog, payload, rate, rxpgRate, type DurableBenchContext, type DurableSection, type RxpgSetup } from './context.js'
import { graphileWorker, pgBoss, type Queue } from './peers.js'

export async function appendScenario(context: DurableBenchContext): Promise<DurableSection> {
  const batched = context.quick ? 5_000 : 50_000
  const single = context.quick ? 300 : 2_000
  const { figures, record, measureAll, ratio, table } = figuresOf(context, 'append')

  // The log's first use (identity, channel) is not what is measured.
  const warmUp = (setup: RxpgSetup) => setup.log.append('warm-up', payload(-1))
  const appendAll = async (setup: RxpgSetup) => {
    for (let i = 0; i < batched - 1; i++) setup.log.append$.next({ channel: 'bench', value: payload(i) })
    await setup.log.append('bench', payload(batched - 1)) // resolves after every value queued before it
  }
  record('rxpg append$ (batched)', () => rxpgRate(context, batched, { prepare: warmUp, measure: appendAll }))
  record('rxpg append$ (100 per INSERT)', () => rxpgRate(context, batched, { options: { appendBatch: { maxBatchSize: 100 } }, prepare: warmUp, measure: appendAll }))
  for (const notify of [false, true]) {
    record(`hand-written INSERT … unnest, 100 rows per transaction${notify ? ' + NOTIFY' : ''}`, async () => {
      const hand = await handWrittenLog(context.url)
      const client = new pg.Client({ connectionString: context.url })
      await client.connect()
      const insert = `INSERT INTO ${hand.table} (channel, payload) SELECT 'bench', p FROM unnest($1::json[]) AS p`
      const text = notify ? `WITH inserted AS (${insert} RETURNING 1) SELECT pg_notify('bench', '') FROM (SELECT 1) one` : insert
      try {
        collectGarbage()
        const start = performance.now()
        for (let i = 0; i < batched; i += 100) {
          await client.query(text, [Array.from({ length: Math.min(100, batched - i) }, (_, j) => JSON.stringify(payload(i + j)))])
        }
        return rate(batched, performance.now() - start)
      } finally {
        await client.end()
        await hand.close()
      }
    })
  }
  const queues: Array<[string, () => Promise<Queue>]> = [
    ['pg-boss', () => pgBoss(context.url, 'defaults')],
    ['graphile-worker', () => graphileWorker(context.url, 'defaults')],
  ]
  for (const [name, open] of queues) {
    record(`${name} ${name === 'pg-boss' ? 'insert' : 'addJobs'}, 100 per call`, async () => {
      const queue = await open()
      try {
        collectGarbage()
        const start = performance.now()
        for (let i = 0; i < batched; i += 100) await queue.addMany(Array.from({ length: Math.min(100, batched - i) }, (_, j) => payload(i + j)))
        return rate(batched, performance.now() - start)
      } finally {
        await queue.close()
      }
    })
  }

  record('rxpg append, one at a time', () =>
    rxpgRate(context, single, {
      prepare: warmUp,
      measure: async (setup) => {
        for (let i = 0; i < single; i++) await setup.log.append('bench', payload(i))
      },
    }),
  )
  for (const [name, open] of queues) {
    record(`${name} ${name === 'pg-boss' ? 'send' : 'addJob'}, one at a time`, async () => {
      const queue = await open()
      try {
        collectGarbage()
        const start = performance.now()
        for (let i = 0; i < single; i++) await queue.addOne(payload(i))
        return rate(single, performance.now() - start)
      } finally {
        await queue.close()
      }
    })
  }

  await measureAll()
  const rxpg = 'rxpg append$ (batched)'
  const overHand = ratio(rxpg, 'hand-written INSERT … unnest, 100 rows per transaction')
  const overQueues = Math.min(ratio(rxpg, 'pg-boss insert, 100 per call'), ratio(rxpg, 'graphile-worker addJobs, 100 per call'))
  return {
    id: 'append',
    title: 'Append',
    method: `${batched.toLocaleString('en-US')} values of ~1 KiB JSON per run (one at a time: ${single.toLocaleString('en-US')}), median of ${context.runs} run(s) (ratios: medians of per-run ratios), one process, a fresh schema per run. rxpg writes up to 1000 rows a batch, two batch transactions overlapping while more waits; the hand-written baseline sends 100 rows per statement, one statement in flight. ${GARBAGE_NOTE}`,
    tables: [table(['', 'rate (median)', 'min–max'])],
    targets: [
      { target: 'append ≥ 1.0× the hand-written batched insert', measured: `${overHand.toFixed(2)}×`, met: overHand >= 1 },
      { target: "append ≥ 2× both queues' batch APIs", measured: `${overQueues.toFixed(2)}× the faster one`, met: overQueues >= 2 },
    ],
    raw: figures,
  }
}
