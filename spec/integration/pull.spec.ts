import { Observable, Subject, of } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BufferOverflowError,
  createPgListener,
  createPuller,
  toAsyncIterable,
  type PgListener,
  type PgNotification,
} from '../../lib/index.js'
import { databaseUrl, eventually, uniqueName } from '../support/database.js'
import { observedSource } from '../support/observed-source.js'

async function collect<T>(iterable: AsyncIterable<T>, limit = Infinity): Promise<T[]> {
  const seen: T[] = []
  for await (const value of iterable) {
    seen.push(value)
    if (seen.length >= limit) break
  }
  return seen
}

describe('toAsyncIterable', () => {
  it('yields the values in order, waiting for the ones still to come, and ends with the source', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    const seen = collect(iterator)
    source.next(1)
    source.next(2)
    await Promise.resolve()
    source.next(3)
    source.complete()
    expect(await seen).toEqual([1, 2, 3])
  })

  it('subscribes at once, so values sent before the first pull are kept', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    expect(source.observed).toBe(true)
    source.next(1)
    source.next(2)
    expect(iterator.buffered).toBe(2)
    source.complete()
    expect(await collect(iterator)).toEqual([1, 2])
  })

  it('reads a synchronous source', async () => {
    expect(await collect(toAsyncIterable(of('a', 'b', 'c')))).toEqual(['a', 'b', 'c'])
  })

  it('throws a source error after the values that came before it, then is done', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    source.next(1)
    source.error(new Error('gone'))
    expect(await iterator.next()).toEqual({ done: false, value: 1 })
    await expect(iterator.next()).rejects.toThrow('gone')
    expect(await iterator.next()).toEqual({ done: true, value: undefined })
  })

  it('rejects a waiting pull when the source errors', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    const pending = iterator.next()
    source.error(new Error('gone'))
    await expect(pending).rejects.toThrow('gone')
  })

  it("throws BufferOverflowError after the values that fit, with 'error' (the default), and unsubscribes at the overflow", async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source, { size: 2 })
    source.next(1)
    source.next(2)
    source.next(3)
    expect(source.observed).toBe(false)
    expect(await iterator.next()).toEqual({ done: false, value: 1 })
    expect(await iterator.next()).toEqual({ done: false, value: 2 })
    const overflow = await iterator.next().catch((error: unknown) => error)
    expect(overflow).toBeInstanceOf(BufferOverflowError)
    expect(overflow).toMatchObject({ code: 'BUFFER_OVERFLOW', info: { size: 2, consumer: 'toAsyncIterable' } })
  })

  it('overflows a synchronous source during the subscription and still unsubscribes', async () => {
    let tornDown = false
    const synchronous = new Observable<number>((subscriber) => {
      for (let n = 0; n < 10 && !subscriber.closed; n += 1) subscriber.next(n)
      return () => void (tornDown = true)
    })
    const iterator = toAsyncIterable(synchronous, { size: 3 })
    expect(tornDown).toBe(true)
    const seen: number[] = []
    const failure = await (async () => {
      for await (const n of iterator) seen.push(n)
    })().catch((error: unknown) => error)
    expect(seen).toEqual([0, 1, 2])
    expect(failure).toBeInstanceOf(BufferOverflowError)
  })

  it("keeps the newest values with 'drop-oldest' and counts the drops", async () => {
    const source = new Subject<number>()
    const drops: number[] = []
    const iterator = toAsyncIterable(source, { size: 2, overflow: 'drop-oldest', onDrop: (value) => void drops.push(value) })
    for (const n of [1, 2, 3, 4, 5]) source.next(n)
    source.complete()
    expect(iterator.dropped).toBe(3)
    expect(await collect(iterator)).toEqual([4, 5])
    expect(drops).toEqual([1, 2, 3])
  })

  it("keeps the oldest values with 'drop-newest'", async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source, { size: 2, overflow: 'drop-newest' })
    for (const n of [1, 2, 3, 4, 5]) source.next(n)
    source.complete()
    expect(await collect(iterator)).toEqual([1, 2])
    expect(iterator.dropped).toBe(3)
  })

  it('unsubscribes when the loop breaks', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    source.next(1)
    source.next(2)
    expect(await collect(iterator, 1)).toEqual([1])
    expect(source.observed).toBe(false)
    expect(iterator.buffered).toBe(0)
  })

  it('unsubscribes when the loop body throws', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    source.next(1)
    const failing = (async () => {
      for await (const _ of iterator) throw new Error('handler failed')
    })()
    await expect(failing).rejects.toThrow('handler failed')
    expect(source.observed).toBe(false)
  })

  it('ends a waiting pull with done when return() is called', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source)
    const pending = iterator.next()
    await iterator.return()
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(source.observed).toBe(false)
    expect(await iterator.next()).toEqual({ done: true, value: undefined })
  })

  it('unsubscribes when disposed with await using', async () => {
    const source = new Subject<number>()
    {
      await using iterator = toAsyncIterable(source)
      expect(source.observed).toBe(true)
      void iterator
    }
    expect(source.observed).toBe(false)
  })

  it('errors with what onDrop throws', async () => {
    const source = new Subject<number>()
    const iterator = toAsyncIterable(source, {
      size: 1,
      overflow: 'drop-newest',
      onDrop: () => {
        throw new Error('drop handler failed')
      },
    })
    source.next(1)
    source.next(2)
    expect(source.observed).toBe(false)
    expect(await iterator.next()).toEqual({ done: false, value: 1 })
    await expect(iterator.next()).rejects.toThrow('drop handler failed')
  })
})

describe('createPuller', () => {
  it('gives undefined while nothing waits, then the values in order', () => {
    const source = new Subject<string>()
    const puller = createPuller(source)
    expect(puller.tryNext()).toBeUndefined()
    source.next('a')
    source.next('b')
    expect(puller.buffered).toBe(2)
    expect([puller.tryNext(), puller.tryNext(), puller.tryNext()]).toEqual(['a', 'b', undefined])
    expect(puller.done).toBe(false)
  })

  it('drains everything waiting, or at most max', () => {
    const source = new Subject<number>()
    const puller = createPuller(source)
    for (const n of [1, 2, 3, 4, 5]) source.next(n)
    expect(puller.drain(2)).toEqual([1, 2])
    expect(puller.drain()).toEqual([3, 4, 5])
    expect(puller.drain()).toEqual([])
  })

  it('is done once the source completed and everything was taken', () => {
    const source = new Subject<number>()
    const puller = createPuller(source)
    source.next(1)
    source.complete()
    expect(puller.done).toBe(false)
    expect(puller.tryNext()).toBe(1)
    expect(puller.done).toBe(true)
    expect(puller.tryNext()).toBeUndefined()
  })

  it('throws a source error once, after the values before it, then is done', () => {
    const source = new Subject<number>()
    const puller = createPuller(source)
    source.next(1)
    source.error(new Error('gone'))
    expect(puller.tryNext()).toBe(1)
    expect(() => puller.tryNext()).toThrow('gone')
    expect(puller.done).toBe(true)
    expect(puller.tryNext()).toBeUndefined()
  })

  it("throws BufferOverflowError after the values that fit, with 'error' (the default)", () => {
    const source = new Subject<number>()
    const puller = createPuller(source, { size: 2 })
    for (const n of [1, 2, 3]) source.next(n)
    expect(source.observed).toBe(false)
    expect(puller.drain()).toEqual([1, 2])
    expect(() => puller.drain()).toThrow(BufferOverflowError)
  })

  it("keeps the newest values with 'drop-oldest', counting drops in the metrics it is given", () => {
    let dropped = 0
    const source = new Subject<number>()
    const puller = createPuller(source, {
      size: 3,
      overflow: 'drop-oldest',
      metrics: { recordDecodeFailure: () => undefined, recordDropped: (n = 1) => void (dropped += n) },
    })
    for (let n = 1; n <= 10; n += 1) source.next(n)
    expect(puller.drain()).toEqual([8, 9, 10])
    expect([puller.dropped, dropped]).toEqual([7, 7])
  })

  it('unsubscribes on close() and on dispose, dropping what waits', () => {
    const first = new Subject<number>()
    const puller = createPuller(first)
    first.next(1)
    puller.close()
    expect(first.observed).toBe(false)
    expect(puller.tryNext()).toBeUndefined()
    expect(puller.done).toBe(true)

    const second = new Subject<number>()
    {
      using disposed = createPuller(second)
      void disposed
      expect(second.observed).toBe(true)
    }
    expect(second.observed).toBe(false)
  })
})

describe('pull bridges on a real PostgreSQL', () => {
  const listeners: PgListener[] = []
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((listener) => listener.close()))
  })

  function setup() {
    const source = observedSource(databaseUrl())
    const db = createPgListener(databaseUrl(), { source })
    const sender = createPgListener(databaseUrl())
    listeners.push(db, sender)
    return { db, sender, changes: source.changes, listening: () => source.serverListens() }
  }

  it('iterates a channel with for await and UNLISTENs when the loop breaks', async () => {
    const { db, sender, changes, listening } = setup()
    const channel = uniqueName('pull-iterate')
    const iterator = toAsyncIterable(db.channel(channel), { size: 10 })
    await eventually(async () => (await listening()).includes(channel), () => `LISTEN ${channel}`)

    for (const payload of ['1', '2', '3']) await sender.notify(channel, payload)
    const seen: string[] = []
    for await (const notification of iterator) {
      seen.push(notification.payload)
      if (notification.payload === '3') break
    }
    expect(seen).toEqual(['1', '2', '3'])

    await eventually(
      () => changes.some((change) => change.remove.includes(channel)),
      () => `no UNLISTEN ${channel} in ${JSON.stringify(changes)}`,
    )
    expect(await listening()).not.toContain(channel)
  })

  it('UNLISTENs when the loop body throws', async () => {
    const { db, sender, changes, listening } = setup()
    const channel = uniqueName('pull-throw')
    const iterator = toAsyncIterable(db.channel(channel))
    await eventually(async () => (await listening()).includes(channel), () => `LISTEN ${channel}`)
    await sender.notify(channel, 'poison')

    const loop = (async () => {
      for await (const notification of iterator) throw new Error(`cannot handle ${notification.payload}`)
    })()
    await expect(loop).rejects.toThrow('cannot handle poison')
    await eventually(
      () => changes.some((change) => change.remove.includes(channel)),
      () => `no UNLISTEN ${channel} in ${JSON.stringify(changes)}`,
    )
    expect(await listening()).not.toContain(channel)
  })

  it('polls a channel with tryNext and UNLISTENs on close()', async () => {
    const { db, sender, changes, listening } = setup()
    const channel = uniqueName('pull-poll')
    const puller = createPuller<PgNotification>(db.channel(channel), { size: 10 })
    await eventually(async () => (await listening()).includes(channel), () => `LISTEN ${channel}`)

    await sender.notify(channel, 'a')
    await sender.notify(channel, 'b')
    await eventually(() => puller.buffered === 2, () => `2 notifications buffered, got ${puller.buffered}`)
    expect([puller.tryNext()?.payload, puller.tryNext()?.payload, puller.tryNext()]).toEqual(['a', 'b', undefined])

    puller.close()
    await eventually(
      () => changes.some((change) => change.remove.includes(channel)),
      () => `no UNLISTEN ${channel} in ${JSON.stringify(changes)}`,
    )
    expect(await listening()).not.toContain(channel)
  })
})
