/**
 * Exactly-once consumer groups: one rxpg consumer (default batches of 100, and tuned batches of 1000) whose
 * handler writes a ledger row per message through the batch's transaction, against graphile-worker tuned
 * working the same number of jobs with a no-op handler (so the queue does less work than rxpg here).
 */
import { createLedger } from '../../support/durable/ledger.js'
import { collectGarbage, figuresOf, GARBAGE_NOTE, rate, rxpgLog, sleep, type DurableBenchContext, type DurableSection } from './context.js'
import { graphileWorker } from './peers.js'
import { preload, queueWorkRate } from './replay.js'

export async function consumeScenario(context: DurableBenchContext): Promise<DurableSection> {
  const count = context.quick ? 10_000 : 50_000
  const queueJobs = context.quick ? 5_000 : 20_000
  const { figures, record, measureAll, ratio, table } = figuresOf(context, 'consume')
  for (const [batchSize, members] of [
    [100, 1],
    [1000, 1],
    [1000, 2],
  ] as const) {
    record(`rxpg consumer group, ${members} member(s), batches of ${batchSize}, ledger insert per message`, async () => {
      const setup = await rxpgLog(context, {}, 12)
      try {
        const ledger = await createLedger(setup.schema, context.url)
        await preload(setup, 'bench', count)
        collectGarbage()
        const start = performance.now()
        const consumers = Array.from({ length: members }, (_, member) =>
          setup.log.consume('bench', 'group', (messages, client) => ledger.record(messages, client, `m${member}`), { batchSize }),
        )
        const done = () => consumers.reduce((sum, consumer) => sum + consumer.stats.messages, 0)
        while (done() < count && performance.now() - start < 120_000) await sleep(10)
        const elapsed = performance.now() - start
        await Promise.all(consumers.map((consumer) => consumer.stop()))
        if ((await ledger.count()) !== done() || (await ledger.duplicates()).length > 0) throw new Error('the ledger does not match what was consumed')
        return rate(done(), elapsed)
      } finally {
        await setup.close()
      }
    })
  }
  record('graphile-worker tuned, no-op handler', () => queueWorkRate(() => graphileWorker(context.url, 'tuned'), queueJobs, 15_000))

  await measureAll()
  const overGraphile = Math.max(...Object.keys(figures).filter((name) => name.startsWith('rxpg')).map((name) => ratio(name, 'graphile-worker tuned, no-op handler')))
  return {
    id: 'consume',
    title: 'Exactly-once consumer groups',
    method: `${count.toLocaleString('en-US')} preloaded values of ~1 KiB; the handler inserts one ledger row per message through the batch's transaction (the cursor advances in it); the ledger is checked for exactness after each run. Median of ${context.runs} run(s) (ratios: medians of per-run ratios, the best rxpg configuration). ${GARBAGE_NOTE}`,
    tables: [table(['', 'messages/s (median)', 'min–max'])],
    targets: [{ target: 'exactly-once consumer groups ≥ 3× graphile-worker tuned', measured: `${overGraphile.toFixed(1)}×`, met: overGraphile >= 3 }],
    raw: figures,
  }
}
