// log.read() reads ahead through a backlog: the page after a full one is asked for before the full one is
// handed on, so the server reads it while the subscriber works. A read-ahead that fails is read again.
import { firstValueFrom, map, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DurableLog } from '../../lib/durable/index.js'
import { durableFixture, horizonPassed, pageCountingPool, type DurableFixture, type PageCountingPool } from '../support/durable.js'

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

async function appendAll(log: DurableLog, channel: string, count: number): Promise<void> {
  for (let index = 0; index < count; index += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - index) }, (_, offset) => log.append(channel, index + offset)))
  }
  await horizonPassed(fixture.url)
}

const upTo = (count: number) => Array.from({ length: count }, (_, index) => index)

describe('log.read through a backlog', () => {
  it('asks for the page after a full one before handing that one on', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'ahead', 250)
    counted.reset()
    const readsAtFirstMessage = await firstValueFrom(log.read('ahead', { from: 'earliest', batchSize: 100 }).pipe(map(() => counted.reads)))
    expect(readsAtFirstMessage).toBe(2)
  })

  it('asks for nothing ahead after a page that was not full (the live end)', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'short', 50)
    counted.reset()
    const values = await firstValueFrom(log.read('short', { from: 'earliest', batchSize: 100 }).pipe(take(50), toArray()))
    expect(values.map((message) => message.value)).toEqual(upTo(50))
    expect(counted.reads).toBe(1)
  })

  it('reads a page again when the session under its read-ahead ended: nothing lost, nothing doubled', async () => {
    const log = fixture.openLog({ pool: counted.pool, pollInterval: 50 })
    await appendAll(log, 'again', 350)
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
    await appendAll(log, 'stopped', 300)
    const values = await firstValueFrom(log.read('stopped', { from: 'earliest', batchSize: 100 }).pipe(take(150), toArray()))
    expect(values.map((message) => message.value)).toEqual(upTo(150))
    await log.close()
  })
})
