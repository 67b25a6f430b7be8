// A value the server refuses fails alone. In a LATIN1 database 'Ł' cannot be stored (SQLSTATE 22P05): a batch
// holding it is refused whole, and rxpg writes the batch's other values again, in call order, so that only the
// refused one fails (with the server's reason and its own channel), on both append paths (a lone batch, and the
// overlapping transactions of a burst).
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppendFailedError, type DurableLog } from '../../lib/durable/index.js'
import { comparePositions, parseToken } from '../../lib/durable/position.js'
import type { RxpgError } from '../../lib/index.js'
import { eventually } from '../support/database.js'
import { scratchDatabase, type ScratchDatabase } from '../support/database.js'
import { durableDatabaseUrl, durableFixture, fetchAll, type DurableFixture } from '../support/durable.js'

let database: ScratchDatabase
let fixture: DurableFixture
/** Batches of 5, so that a burst of 30 is written in overlapping transactions. */
let small: DurableLog
/** The statements the pool's connections ran, each connection's in order (to see which path a burst took). */
const statements = new Map<pg.PoolClient, string[]>()

beforeAll(async () => {
  database = await scratchDatabase('durable_refused', { encoding: 'LATIN1' }, durableDatabaseUrl())
  fixture = await durableFixture('durable_refused', {}, database.url)
  small = fixture.openLog({ appendBatch: { maxBatchSize: 5 } })
  const seen = new WeakSet<pg.PoolClient>()
  fixture.pool.on('acquire', (client) => {
    if (seen.has(client)) return
    seen.add(client)
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as string | { text?: string }
      const texts = statements.get(client) ?? []
      statements.set(client, texts)
      texts.push(typeof config === 'string' ? config : (config.text ?? ''))
      return query(...args)
    }
  })
})
afterAll(async () => {
  await fixture?.close()
  await database?.drop()
})

const settled = <T>(promises: ReadonlyArray<Promise<T>>) => Promise.allSettled(promises)
const positionOf = (token: string) => parseToken(token).position

/** The refusal of a value the database cannot store: not written, the server's reason, its own channel. */
const expectRefused = (result: PromiseSettledResult<string> | undefined, channel: string) => {
  expect(result?.status).toBe('rejected')
  const error = (result as PromiseRejectedResult).reason as AppendFailedError
  expect(error).toBeInstanceOf(AppendFailedError)
  expect(error.info).toMatchObject({ channel, outcome: 'not-sent', sqlState: '22P05' })
  expect(error.message).toContain('LATIN1')
}

/** The tokens of the values written, in call order, and in the log's order those of values called in order. */
const expectCallOrder = (results: ReadonlyArray<PromiseSettledResult<string>>) => {
  const written = results.flatMap((result, index) => (result.status === 'fulfilled' ? [{ index, token: result.value }] : []))
  const inLogOrder = [...written].sort((a, b) => comparePositions(positionOf(a.token), positionOf(b.token)))
  expect(inLogOrder.map((each) => each.index)).toEqual(written.map((each) => each.index))
}

describe('a value the database cannot store', () => {
  it('fails alone among concurrent appends; the others are written, to every channel, in call order', async () => {
    const { log } = fixture
    const results = await settled([
      log.append('invoices', { customer: 'Zoë', total: '12.50' }),
      log.append('invoices', { customer: 'Łukasz', total: '3.00' }),
      log.append('audit', { event: 'login', user: 'anne' }),
      log.append('invoices', { customer: 'Ana', total: '1.00' }),
    ])
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    expectRefused(results[1], 'invoices')
    expectCallOrder(results)
    const tokenOf = (index: number) => (results[index] as PromiseFulfilledResult<string>).value
    expect(await fetchAll(log, 'invoices', 'earliest', database.url)).toEqual([
      { token: tokenOf(0), value: { customer: 'Zoë', total: '12.50' } },
      { token: tokenOf(3), value: { customer: 'Ana', total: '1.00' } },
    ])
    expect(await fetchAll(log, 'audit', 'earliest', database.url)).toEqual([{ token: tokenOf(2), value: { event: 'login', user: 'anne' } }])
  })

  it('fails alone when it is a channel name or a key the database cannot store', async () => {
    const { log } = fixture
    const results = await settled([
      log.append('names', { n: 1 }),
      log.append('Łódź', { n: 2 }),
      log.append('names', { n: 3 }, { key: 'Łukasz' }),
      log.append('names', { n: 4 }, { key: 'anne' }),
    ])
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    expectRefused(results[1], 'Łódź')
    expectRefused(results[2], 'names')
    expectCallOrder(results)
    expect((await fetchAll(log, 'names', 'earliest', database.url)).map((message) => message.value)).toEqual([{ n: 1 }, { n: 4 }])
  })

  it('append$: only the refused values are lost, each reported once on errors$ with its own channel', async () => {
    const { log } = fixture
    const errors: RxpgError[] = []
    const watching = log.errors$.subscribe((error) => errors.push(error))
    try {
      for (let n = 1; n <= 6; n++) log.append$.next({ channel: n === 5 ? 'sink-other' : 'sink', value: { n, s: n === 3 ? 'emoji 😀' : 'fine' } })
      await eventually(async () => (await fetchAll(log, 'sink', 'earliest', database.url)).length === 4, () => `errors: ${errors.map((error) => error.message).join('; ')}`)
      expect((await fetchAll(log, 'sink', 'earliest', database.url)).map((message) => message.value)).toEqual([1, 2, 4, 6].map((n) => ({ n, s: 'fine' })))
      expect((await fetchAll(log, 'sink-other', 'earliest', database.url)).map((message) => message.value)).toEqual([{ n: 5, s: 'fine' }])
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(AppendFailedError)
      expect((errors[0] as AppendFailedError).info).toMatchObject({ channel: 'sink', outcome: 'not-sent', sqlState: '22P05' })
    } finally {
      watching.unsubscribe()
    }
  })

  it('a burst larger than a batch (overlapping transactions): the log holds every value but the refused ones, in call order', async () => {
    statements.clear()
    const refused = new Set([7, 8, 22, 27]) // two in one batch of an overlapping transaction, one in another, one in the last (lone) batch
    const channelOf = (index: number) => (index % 4 === 3 ? 'burst-other' : 'burst')
    const results = await settled(Array.from({ length: 30 }, (_, index) => small.append(channelOf(index), { index, who: refused.has(index) ? 'Łukasz' : 'Zoë' })))
    results.forEach((result, index) => {
      if (refused.has(index)) expectRefused(result, channelOf(index))
      else expect(result, `append ${index}`).toMatchObject({ status: 'fulfilled' })
    })
    expectCallOrder(results)
    for (const channel of ['burst', 'burst-other']) {
      const expected = results.flatMap((result, index) => (result.status === 'fulfilled' && channelOf(index) === channel ? [{ token: result.value, value: { index, who: 'Zoë' } }] : []))
      expect(await fetchAll(small, channel, 'earliest', database.url)).toEqual(expected)
    }
    // The burst did take the overlapping path (transactions that take their id first), and a refusal in one of
    // them was written apart in the same transaction (rolled back to its savepoint, then committed).
    const transactions = [...statements.values()].flatMap((texts) => texts.join('\n').split(/(?=^BEGIN)/m))
    const overlapping = transactions.filter((text) => text.startsWith('BEGIN ISOLATION LEVEL READ COMMITTED; SELECT txid_current()'))
    expect(overlapping.length).toBeGreaterThan(1)
    expect(overlapping.filter((text) => /ROLLBACK TO SAVEPOINT[^]*\nCOMMIT(\n|$)/.test(text)).length).toBeGreaterThan(0)
  })
})
