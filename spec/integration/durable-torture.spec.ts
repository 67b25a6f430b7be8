// Torture, sized for CI: many writers with random sleeps inside their transactions and ~5% rollbacks, consumer
// processes killed (SIGKILL) and restarted throughout, handlers writing a ledger in their transaction.
// 0 lost, 0 duplicated effects; a live reader sees the same order as a replay. The long version (1,000,000
// messages, 100 kills) is bench/durable/torture.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../support/database.js'
import { durableFixture, fetchAll, type DurableFixture } from '../support/durable.js'
import { createLedger, type Ledger } from '../../support/durable/ledger.js'
import { killAll, spawnConsumer, type ConsumerProcess } from '../../support/durable/consumer-process.js'
import { collect } from '../support/listener.js'
import { startTortureWriters } from '../../support/durable/torture-writers.js'

const WRITERS = 16
const TRANSACTIONS_PER_WRITER = 30
const CONSUMERS = 3
const KILLS = 8

let fixture: DurableFixture
let ledger: Ledger
const processes: ConsumerProcess[] = []

beforeAll(async () => {
  fixture = await durableFixture('durable_torture')
  ledger = await createLedger(fixture.schema, fixture.url)
})
afterAll(async () => {
  await killAll(processes)
  await fixture.close()
})

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('torture', () => {
  it('loses nothing and doubles nothing', { timeout: 120_000 }, async () => {
    const live = collect(fixture.log.read('torture', { from: 'earliest' }))
    let generation = 0
    const start = (slot: number) => {
      const consumer = spawnConsumer({ url: fixture.url, schema: fixture.schema, channel: 'torture', group: 'ledger', member: `c${slot}-${generation++}`, leaseTtl: 1500 })
      processes.push(consumer)
      return consumer
    }
    const slots = Array.from({ length: CONSUMERS }, (_, slot) => start(slot))

    const writers = startTortureWriters({
      url: fixture.url,
      log: fixture.log,
      channel: 'torture',
      writers: WRITERS,
      maxPerTransaction: 3,
      maxSleep: 20,
      more: (round) => round < TRANSACTIONS_PER_WRITER,
    })
    const { committed } = writers

    const chaos = (async () => {
      for (let kill = 0; kill < KILLS; kill++) {
        await pause(400 + Math.random() * 400)
        const slot = Math.floor(Math.random() * CONSUMERS)
        slots[slot]!.child.kill('SIGKILL')
        await slots[slot]!.exited
        slots[slot] = start(slot)
      }
    })()
    await Promise.all([writers.done, chaos])

    await eventually(async () => (await ledger.count()) >= committed.length, () => `the ledger is short of ${committed.length}`, 60_000)
    await pause(500) // room for a late duplicate to show up, were there one
    const replay = (await fetchAll(fixture.log, 'torture')).map((m) => (m.value as { value: string }).value)
    expect([...replay].sort()).toEqual([...committed].sort())
    expect(await ledger.count()).toBe(committed.length)
    expect(await ledger.duplicates()).toEqual([])
    expect(await ledger.outOfOrderKeys()).toEqual([])
    const ledgerTokens = new Set(await ledger.tokens())
    expect(ledgerTokens.size).toBe(committed.length)
    await eventually(() => live.values.length === committed.length, () => `live reader has ${live.values.length}`)
    expect(live.values.map((m) => (m.value as { value: string }).value)).toEqual(replay)
    expect(live.errors).toEqual([])
    expect(writers.transactions).toBe(WRITERS * TRANSACTIONS_PER_WRITER)
    live.stop()
  })
})
