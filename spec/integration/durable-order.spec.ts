// Commit order: rows are read in (epoch, tx, id) order and only below the snapshot horizon, so a transaction
// that took its id early and commits late is never skipped, and every reader sees one order.
import pg from 'pg'
import { firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { durableFixture, fetchAll, type DurableFixture } from '../support/durable.js'
import { collect } from '../support/listener.js'
import { eventually } from '../support/database.js'

let fixture: DurableFixture
const clients: pg.Client[] = []

beforeAll(async () => {
  fixture = await durableFixture('durable_order')
})
afterAll(async () => {
  await Promise.all(clients.splice(0).map((client) => client.end()))
  await fixture.close()
})

async function transactionClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: fixture.url })
  await client.connect()
  clients.push(client)
  await client.query('BEGIN')
  return client
}

describe('out-of-order commits', () => {
  it('delivers a row whose transaction began first but committed last, before the later one, to readers already past both ids', async () => {
    const { log } = fixture
    const reader = collect(log.read('ooo', { from: 'now' }))
    const t1 = await transactionClient()
    await log.append('ooo', 'T1', { client: t1 }) // T1 takes its transaction id and the smaller row id
    const t2 = await transactionClient()
    await log.append('ooo', 'T2', { client: t2 })
    await t2.query('COMMIT') // T2 commits first
    log.wake('ooo')
    // T2's row is committed but stays unread while T1, older, could still commit below it.
    expect((await log.fetch('ooo', { after: 'earliest' })).messages).toEqual([])
    await t1.query('COMMIT')
    log.wake('ooo')
    await eventually(() => reader.values.length === 2, () => `reader got ${JSON.stringify(reader.values.map((m) => m.value))}`)
    expect(reader.values.map((m) => m.value)).toEqual(['T1', 'T2'])
    expect((await fetchAll(log, 'ooo')).map((m) => m.value)).toEqual(['T1', 'T2'])
    reader.stop()
  })

  it('orders by the writing transaction first: a transaction that got its id first comes first even when its row was inserted last', async () => {
    const { log } = fixture
    const t1 = await transactionClient()
    await t1.query('SELECT txid_current()') // T1 holds the older transaction id, no row yet
    const t2 = await transactionClient()
    await log.append('by-tx', 'T2 row, inserted first', { client: t2 })
    await log.append('by-tx', 'T1 row, inserted last', { client: t1 })
    await t2.query('COMMIT')
    await t1.query('COMMIT')
    expect((await fetchAll(log, 'by-tx')).map((m) => m.value)).toEqual(['T1 row, inserted last', 'T2 row, inserted first'])
  })

  it('never delivers rolled-back rows, and delivers what comes after them', async () => {
    const { log } = fixture
    const rolledBack = await transactionClient()
    await log.append('rollbacks', 'rolled back', { client: rolledBack })
    await log.append('rollbacks', 'kept')
    await rolledBack.query('ROLLBACK')
    await log.append('rollbacks', 'after')
    expect((await fetchAll(log, 'rollbacks')).map((m) => m.value)).toEqual(['kept', 'after'])
  })

  it('gives concurrent writers with random delays inside their transactions one order that every reader shares, without loss', async () => {
    const { log } = fixture
    const channel = 'concurrent'
    const live = collect(log.read(channel, { from: 'now' }))
    const committed: string[] = []
    await Promise.all(
      Array.from({ length: 10 }, async (_, writer) => {
        for (let round = 0; round < 8; round++) {
          const value = `w${writer}-${round}`
          const client = await transactionClient()
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 15))
          await log.append(channel, value, { client })
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 15))
          if ((writer + round) % 7 === 3) {
            await client.query('ROLLBACK')
          } else {
            await client.query('COMMIT')
            committed.push(value)
          }
          log.wake(channel)
          await client.end()
          clients.splice(clients.indexOf(client), 1)
        }
      }),
    )
    const replayed = (await fetchAll(log, channel)).map((m) => m.value)
    expect([...replayed].sort()).toEqual([...committed].sort())
    await eventually(() => live.values.length === committed.length, () => `live reader has ${live.values.length} of ${committed.length}`)
    // The live reader (which read while writers were running) and the replay agree on the order.
    expect(live.values.map((m) => m.value)).toEqual(replayed)
    live.stop()
  })
})

describe('resuming', () => {
  it('resumes from every token it gave with exactly the messages after it (read and fetch)', async () => {
    const { log } = fixture
    const channel = 'resume'
    for (let batch = 0; batch < 4; batch++) {
      await log.transaction(async (client) => {
        for (let i = 0; i < 3; i++) await log.append(channel, batch * 3 + i, { client })
      })
      await Promise.all([log.append(channel, `single-${batch}`), log.append(channel, `single-${batch}b`)])
    }
    const all = await fetchAll(log, channel)
    expect(all).toHaveLength(20)
    const values = all.map((m) => m.value)
    for (const [index, { token }] of all.entries()) {
      expect((await fetchAll(log, channel, token)).map((m) => m.value)).toEqual(values.slice(index + 1))
      if (index + 1 < all.length) {
        const next = await firstValueFrom(log.read(channel, { from: token }))
        expect(next.value).toEqual(values[index + 1])
      }
    }
    // The reader's backlog and live parts meet without a gap or a repeat: read from the middle, then append.
    const reader = collect(log.read(channel, { from: all[9]!.token, batchSize: 4 }))
    await log.append(channel, 'live')
    await eventually(() => reader.values.length === 11, () => `reader has ${reader.values.length}`)
    expect(reader.values.map((m) => m.value)).toEqual([...values.slice(10), 'live'])
    reader.stop()
  })

  it("fetch's next token moves past a quiet channel's horizon, and waits there for the next message (wait_once)", async () => {
    const { log } = fixture
    const empty = await log.fetch('quiet', { after: 'earliest' })
    expect(empty.messages).toEqual([])
    const waiting = firstValueFrom(log.read('quiet', { from: empty.next }))
    await log.append('quiet', { hello: 'world' }, { key: 'k' })
    const message = await waiting
    expect(message).toMatchObject({ channel: 'quiet', key: 'k', value: { hello: 'world' } })
    const after = await log.fetch('quiet', { after: message.token })
    expect(after.messages).toEqual([])
  })

  it("'now' never misses what commits after it, and 'earliest' starts at the first message", async () => {
    const { log } = fixture
    await log.append('now-vs-earliest', 'old')
    const fromNow = collect(log.read('now-vs-earliest', { from: 'now' }))
    const fromEarliest = firstValueFrom(log.read('now-vs-earliest', { from: 'earliest' }).pipe(take(2), toArray()))
    // Probes until the 'now' reader is surely reading (it has seen one), then the message it must get.
    await eventually(async () => {
      await log.append('now-vs-earliest', 'probe')
      return fromNow.values.length > 0
    }, () => 'the now-reader never started')
    await log.append('now-vs-earliest', 'new')
    await eventually(() => fromNow.values.some((m) => m.value === 'new'), () => `now-reader has ${JSON.stringify(fromNow.values.map((m) => m.value))}`)
    // 'now' is the snapshot horizon: 'old' is included only if another transaction held the horizon below it
    // (other specs share this server); 'new', committed after the reader began, never misses.
    expect([['new'], ['old', 'new']]).toContainEqual(fromNow.values.map((m) => m.value).filter((value) => value !== 'probe'))
    expect((await fromEarliest).map((m) => m.value)).toEqual(['old', 'probe'])
    fromNow.stop()
  })
})
