/**
 * The long torture run: writers with random sleeps inside their transactions and ~5% rollbacks append through
 * their own transactions; consumer processes (support/durable/consumer-fixture.ts) are killed with SIGKILL and
 * restarted throughout; their handlers write a ledger in the batch's transaction. Counted at the end: lost
 * and duplicated effects, keys out of order.
 */
import { killAll, spawnConsumer, type ConsumerProcess } from '../../support/durable/consumer-process.js'
import { createLedger } from '../../support/durable/ledger.js'
import { startTortureWriters } from '../../support/durable/torture-writers.js'
import { query, rxpgLog, sleep, type DurableBenchContext, type DurableSection } from './context.js'

export async function tortureScenario(context: DurableBenchContext): Promise<DurableSection> {
  const target = context.quick ? 20_000 : 1_000_000
  const kills = context.quick ? 5 : 100
  const writers = 32
  const consumers = 4
  const setup = await rxpgLog(context, {}, writers + 4)
  const ledger = await createLedger(setup.schema, context.url)
  const processes: ConsumerProcess[] = []
  let generation = 0
  const start = (slot: number) => {
    const consumer = spawnConsumer({ url: context.url, schema: setup.schema, channel: 'torture', group: 'ledger', member: `c${slot}-${generation++}`, leaseTtl: 3000 })
    processes.push(consumer)
    return consumer
  }
  const begun = performance.now()
  try {
    const slots = Array.from({ length: consumers }, (_, slot) => start(slot))
    const writing = startTortureWriters({
      url: context.url,
      log: setup.log,
      channel: 'torture',
      writers,
      maxPerTransaction: 20,
      maxSleep: 2,
      more: () => writing.committed.length < target,
    })

    let killed = 0
    let frozen = 0
    let writersDone = false
    void writing.done.then(() => (writersDone = true))
    const killInterval = context.quick ? 500 : 1_500
    while (killed < kills || !writersDone) {
      await sleep(killInterval)
      if (killed >= kills) continue
      const slot = Math.floor(Math.random() * consumers)
      if (killed % 10 === 5) {
        // Now and then a freeze instead: past its lease, so its batch in flight must be refused when it wakes.
        slots[slot]!.child.kill('SIGSTOP')
        await sleep(7_000)
        slots[slot]!.child.kill('SIGCONT')
        frozen++
        // Time to try its stale ack (refused) before it is killed in turn.
        await Promise.race([slots[slot]!.next('stale-ack'), sleep(3_000)])
      }
      slots[slot]!.child.kill('SIGKILL')
      await slots[slot]!.exited
      slots[slot] = start(slot)
      killed++
      if (killed % 10 === 0) context.log(`torture: ${killed} kills, ${writing.committed.length.toLocaleString('en-US')} committed, ledger ${await ledger.count()}`)
    }
    await writing.done
    const committed = writing.committed.length
    const { transactions, rolledBack } = writing
    const deadline = performance.now() + 15 * 60_000
    while ((await ledger.count()) < committed && performance.now() < deadline) await sleep(1000)
    const [counts] = await query<{ total: string; distinct_tokens: string }>(context.url, `SELECT count(*)::text AS total, count(DISTINCT token)::text AS distinct_tokens FROM ${ledger.table}`)
    const [logCount] = await query<{ n: string }>(context.url, `SELECT count(*)::text AS n FROM "${setup.schema}".durable_log WHERE channel = 'torture'`)
    const total = Number(counts?.total)
    const distinct = Number(counts?.distinct_tokens)
    const inLog = Number(logCount?.n)
    const outOfOrder = (await ledger.outOfOrderKeys()).length
    const staleAcks = processes.reduce((sum, each) => sum + each.events.filter((event) => event.event === 'stale-ack').length, 0)
    const lost = inLog - distinct
    const duplicated = total - distinct
    const seconds = (performance.now() - begun) / 1000
    context.log(`torture: ${committed} committed, ${distinct} in the ledger once, ${duplicated} duplicated, ${lost} lost, ${killed} kills`)
    return {
      id: 'torture',
      title: 'Torture: writers with sleeps and rollbacks, consumers killed',
      method: `${writers} writers, each transaction 1–20 appends through its own client with random sleeps (0–2 ms) before each append and before the end, 5% rolled back; ${consumers} consumer processes, one killed with SIGKILL and restarted every ${killInterval / 1000} s (${frozen} of them first frozen with SIGSTOP for 7 s, past the 3 s lease, then thawed); handlers insert a ledger row per message in the batch's transaction. ${seconds.toFixed(0)} s in all.`,
      tables: [
        {
          headers: ['committed messages', 'in the log', 'transactions (rolled back)', 'consumer kills', 'ledger rows', 'lost', 'duplicated', 'keys out of order', 'stale acks rejected'],
          rows: [[committed, inLog, `${transactions} (${rolledBack})`, killed, total, lost, duplicated, outOfOrder, staleAcks].map((value) => String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ','))],
        },
      ],
      targets: [
        {
          target: `torture: ${target.toLocaleString('en-US')} messages, ${kills} consumer kills → 0 lost, 0 duplicated effects`,
          measured: `${lost} lost, ${duplicated} duplicated, ${outOfOrder} keys out of order (${committed.toLocaleString('en-US')} messages, ${killed} kills)`,
          met: lost === 0 && duplicated === 0 && outOfOrder === 0 && committed === inLog,
        },
      ],
      raw: { committed, inLog, transactions, rolledBack, killed, total, distinct, lost, duplicated, outOfOrder, staleAcks, seconds },
    }
  } finally {
    await killAll(processes)
    await setup.close()
  }
}
