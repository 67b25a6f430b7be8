// log.read() reads ahead through a backlog: the page after a full one is asked for before the full one is
// handed on, so the server reads it while the subscriber works. A read-ahead that fails is read again.
import { firstValueFrom, map, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendAll, durableFixture, pageCountingPool, type DurableFixture, type PageCountingPool } from '../support/durable.js'

let fixture: DurableFixture
let counted: PageCountingPool

beforeAll(async () => {
  fixture = await durableFixture('durable_read')
  counted = pageCountingPool(fixture.url)
})
afterAll(async () => {
  await fixture.close()
  await counted.end()
})

const upTo = (count: number) => Array.from({ length: count }, (_, index) => index)

describe('log.read through a backlog', () => {
  it('asks for the page after a full one before handing that one on', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'ahead', upTo(250), fixture.url)
    counted.reset()
    const readsAtFirstMessage = await firstValueFrom(log.read('ahead', { from: 'earliest', batchSize: 100 }).pipe(map(() => counted.reads)))
    expect(readsAtFirstMessage).toBe(2)
  })

  it('asks for nothing ahead after a page that was not full (the live end)', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'short', upTo(50), fixture.url)
    counted.reset()
    const values = await firstValueFrom(log.read('short', { from: 'earliest', batchSize: 100 }).pipe(take(50), toArray()))
    expect(values.map((message) => message.value)).toEqual(upTo(50))
    expect(counted.reads).toBe(1)
  })

  it('reads a page again when the session under its read-ahead ended: nothing lost, nothing doubled', async () => {
    const log = fixture.openLog({ pool: counted.pool, pollInterval: 50 })
    await appendAll(log, 'again', upTo(350), fixture.url)
    counted.reset()
    // The second page read is the read-ahead of the second page.
    counted.terminateBeforeRead(2)
    const values = await firstValueFrom(log.read('again', { from: 'earliest', batchSize: 100 }).pipe(take(350), toArray()))
    expect(values.map((message) => message.value)).toEqual(upTo(350))
    // Four pages, and the second one twice.
    expect(counted.reads).toBe(5)
  })

  it('closes at once when the reader stopped with a read-ahead in flight', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'stopped', upTo(300), fixture.url)
    const values = await firstValueFrom(log.read('stopped', { from: 'earliest', batchSize: 100 }).pipe(take(150), toArray()))
    expect(values.map((message) => message.value)).toEqual(upTo(150))
    await log.close()
  })
})
