// Competing consumers in real processes: 4 `node` processes share 16 partitions of one group; one is killed
// (SIGKILL) and restarted again and again, another is frozen (SIGSTOP) mid-batch past its lease and thawed.
// Per-key order holds, every effect is applied exactly once, and every stale ack is rejected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery, eventually } from '../support/database.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { createLedger, type Ledger } from '../../support/durable/ledger.js'
import { killAll, spawnConsumer, type ConsumerProcess } from '../../support/durable/consumer-process.js'

const LEASE_TTL = 1500
const KEYS = 32

let fixture: DurableFixture
let ledger: Ledger
const processes: ConsumerProcess[] = []

beforeAll(async () => {
  fixture = await durableFixture('durable_competing')
  ledger = await createLedger(fixture.schema, fixture.url)
})
afterAll(async () => {
  await killAll(processes)
  await fixture.close()
})

const start = (member: string, handlerDelay = 5) => {
  const consumer = spawnConsumer({ url: fixture.url, schema: fixture.schema, channel: 'work', group: 'workers', member, leaseTtl: LEASE_TTL, handlerDelay })
  processes.push(consumer)
  return consumer
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('competing consumers in 4 processes', () => {
  it('keeps per-key order and exactly-once effects while one member is killed repeatedly and another frozen past its lease', { timeout: 120_000 }, async () => {
    // Messages keep coming, 40 at a time, for as long as the chaos lasts.
    const seqs = new Map<string, number>()
    let sent = 0
    let producing = true
    const produce = (async () => {
      while (producing) {
        await Promise.all(
          Array.from({ length: 40 }, () => {
            const key = `key-${sent++ % KEYS}`
            const seq = (seqs.get(key) ?? 0) + 1
            seqs.set(key, seq)
            return fixture.log.append('work', { seq }, { key })
          }),
        )
        await pause(100)
      }
    })()

    const victims = [start('victim-0')]
    const frozen = start('frozen', 100)
    start('steady-a')
    start('steady-b')

    // Freeze one member while it is inside a batch; thaw it once its lease has long expired.
    await frozen.next('handling')
    frozen.child.kill('SIGSTOP')
    // Meanwhile kill the victim again and again, each time starting a new process in its place.
    for (let kill = 1; kill <= 5; kill++) {
      await pause(600)
      victims.at(-1)!.child.kill('SIGKILL')
      await victims.at(-1)!.exited
      victims.push(start(`victim-${kill}`))
    }
    frozen.child.kill('SIGCONT')
    await eventually(() => frozen.events.some((event) => event.event === 'stale-ack'), () => 'the thawed member never tried to ack its stale batch', 30_000)

    producing = false
    await produce
    await eventually(async () => (await ledger.count()) >= sent, () => 'the group did not process every message', 60_000)
    // Some time for any late (stale) commit to show up, were fencing broken.
    await pause(LEASE_TTL)
    expect(await ledger.duplicates()).toEqual([])
    expect(await ledger.count()).toBe(sent)
    expect(await ledger.outOfOrderKeys()).toEqual([])
    const staleAcks = processes.flatMap((each) => each.events.filter((event) => event.event === 'stale-ack'))
    expect(staleAcks.length).toBeGreaterThan(0)
    // The work was shared, not done by whoever came first.
    const members = new Set((await adminQuery<{ member: string }>(`SELECT DISTINCT member FROM ${ledger.table}`, [], fixture.url)).map((row) => row.member))
    for (const member of ['steady-a', 'steady-b']) expect(members).toContain(member)
  })
})
