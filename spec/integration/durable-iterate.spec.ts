// log.iterate(): read pulled by `for await`. A page is read only when the loop wants more than it holds (an
// asynchronous handler paces the reader), with read()'s order, triggers and errors.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { z } from 'zod'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineChannel } from '../../lib/index.js'
import { InvalidTokenError } from '../../lib/durable/index.js'
import { appendAll, durableFixture, horizonPassed, lockLog, lockWaitedFor, pageCountingPool, type DurableFixture, type PageCountingPool } from '../support/durable.js'

let fixture: DurableFixture
/** Page statements run against the log's tables, counted on the pool's connections. */
let counted: PageCountingPool

beforeAll(async () => {
  fixture = await durableFixture('durable_iterate')
  counted = pageCountingPool(fixture.url)
})
afterAll(async () => {
  await fixture.close()
  await counted.end()
})

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A full garbage collection, without starting the test run with --expose-gc. */
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

describe('log.iterate', () => {
  it('reads a page only when the loop has used the one before: a slow asynchronous handler keeps at most one page in memory', async () => {
    const log = fixture.openLog({ pool: counted.pool })
    await appendAll(log, 'paced', Array.from({ length: 1000 }, (_, index) => index))
    counted.reset()
    const seen: unknown[] = []
    for await (const message of log.iterate('paced', { from: 'earliest', batchSize: 100 })) {
      seen.push(message.value)
      await delay(1)
      if (seen.length === 250) break
    }
    expect(seen).toEqual(Array.from({ length: 250 }, (_, index) => index))
    // Pages of 100: the first three, and not one more (a pushed read would have read all ten by now).
    expect(counted.reads).toBe(3)
  })

  // Each page read raced a promise that lives as long as the iteration, and every race left a reaction on it
  // holding the page it resolved with: `rxpg tail` over 500,000 messages reached 400 MB, and a long-lived
  // iteration grew for ever. A page the loop is done with must be garbage.
  it('keeps no page the loop is done with: its messages can be collected while the iteration goes on', async () => {
    await appendAll(fixture.log, 'collected', Array.from({ length: 100 }, (_, index) => ({ index })))
    await horizonPassed(fixture.url)
    const messages: Array<WeakRef<object>> = []
    const iterator = fixture.log.iterate('collected', { from: 'earliest', batchSize: 10 })
    for (let index = 0; index < 100; index++) {
      const next = await iterator.next()
      messages.push(new WeakRef(next.value as object))
    }
    // WeakRefs made in this job hold their targets until it ends.
    await new Promise((resolve) => setImmediate(resolve))
    collectGarbage()
    // Pages 1-9 are done with (the loop is on page 10): every message of the first five is garbage.
    expect(messages.slice(0, 50).filter((message) => message.deref() !== undefined)).toHaveLength(0)
    await iterator.return?.()
  })

  it('goes from the backlog to live messages without a gap or a duplicate, waking on appends', async () => {
    const { log } = fixture
    await appendAll(log, 'live', ['a', 'b', 'c'])
    const seen: unknown[] = []
    const tokens = new Set<string>()
    for await (const message of log.iterate('live', { from: 'earliest', batchSize: 2 })) {
      seen.push(message.value)
      tokens.add(message.token)
      // Appended while the loop runs: what commits after the backlog arrives live.
      if (message.value === 'c') void log.append('live', 'd').then(() => log.append('live', 'e'))
      if (seen.length === 5) break
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(tokens.size).toBe(5)
  })

  it('resumes after a token exactly where the last loop stopped', async () => {
    const { log } = fixture
    await appendAll(log, 'resume', [1, 2, 3, 4])
    let token = ''
    for await (const message of log.iterate('resume', { from: 'earliest' })) {
      token = message.token
      if (message.value === 2) break
    }
    const rest: unknown[] = []
    for await (const message of log.iterate('resume', { from: token })) {
      rest.push(message.value)
      if (rest.length === 2) break
    }
    expect(rest).toEqual([3, 4])
  })

  it('decodes a typed channel to Either, as read does', async () => {
    const { log } = fixture
    const Order = defineChannel('iterate-typed', z.object({ id: z.number() }))
    await log.append('iterate-typed', { id: 1 })
    await log.append('iterate-typed', { id: 'not a number' })
    await horizonPassed(fixture.url)
    const tags: string[] = []
    for await (const message of log.iterate(Order, { from: 'earliest' })) {
      tags.push(message.value._tag)
      if (tags.length === 2) break
    }
    expect(tags).toEqual(['Right', 'Left'])
  })

  it('ends a waiting loop when its signal aborts, at once (not at the next poll), with the reason', async () => {
    const log = fixture.openLog({ pollInterval: 60_000 })
    const controller = new AbortController()
    const reason = new Error('shutting down')
    const iterator = log.iterate('quiet', { from: 'now', signal: controller.signal })
    const pending = iterator.next()
    await delay(200)
    // The poll (60 s) is past the test's time-out: only an abort that ends the wait at once passes.
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined })
  })

  it('rejects at once for a signal already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(fixture.log.iterate('quiet', { signal: controller.signal }).next()).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('ends a waiting loop when the log closes', async () => {
    const log = fixture.openLog({ pollInterval: 60_000 })
    const iterator = log.iterate('closing', { from: 'now' })
    const pending = iterator.next()
    await delay(200)
    await log.close()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
  })

  it('throws the typed error of a malformed token from the first pull', async () => {
    await expect(fixture.log.iterate('orders', { from: 'not-a-token' }).next()).rejects.toBeInstanceOf(InvalidTokenError)
  })

  it('rejects a pull waiting on a page read at once when its signal aborts, not when the read ends', async () => {
    const log = fixture.openLog()
    const release = await lockLog(fixture.url, fixture.schema)
    try {
      const controller = new AbortController()
      const reason = new Error('shutting down')
      const pending = log.iterate('locked', { from: 'earliest', signal: controller.signal }).next()
      await lockWaitedFor(fixture.url)
      controller.abort(reason)
      // Still locked: the read has not ended, and the pull is already over.
      await expect(pending).rejects.toBe(reason)
    } finally {
      await release()
    }
  })

  it('ends a pull waiting on a page read when the log closes', async () => {
    const log = fixture.openLog({ closeTimeout: 100 })
    const release = await lockLog(fixture.url, fixture.schema)
    try {
      const pending = log.iterate('locked', { from: 'earliest' }).next()
      await lockWaitedFor(fixture.url)
      await log.close()
      await expect(pending).resolves.toEqual({ done: true, value: undefined })
    } finally {
      await release()
    }
  })

  it('ends a pending pull with done when return() is called, and delivers nothing after it', async () => {
    const log = fixture.openLog({ pollInterval: 60_000 })
    const iterator = log.iterate('returned', { from: 'now' })
    const pending = iterator.next()
    await delay(200)
    const returned = iterator.return?.()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })
    await expect(returned).resolves.toEqual({ done: true, value: undefined })
    await log.append('returned', 'late')
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined })
  })
})
