import { describe, expect, it } from 'vitest'
import { BufferOverflowError, consumeWith } from '../lib/index.js'
import { createVirtualListener, notification, runMarbles, type MarbleHelpers } from '../lib/testing/index.js'

const upper = { A: 'A', B: 'B', C: 'C', D: 'D', E: 'E' }

/** A cold Observable of a run, with the subscriptions it was given. */
type Job = ReturnType<MarbleHelpers['cold']>

/**
 * A handler whose work for each value is a 4-frame job emitting the value in upper case; the jobs are
 * kept so that specs can check their subscriptions. `cold` must be the one of the running marbles.
 */
function slowHandler(cold: MarbleHelpers['cold'], job = '----(x|)') {
  const jobs: Job[] = []
  const handler = (value: string) => {
    const work = cold(job, { x: value.toUpperCase() })
    jobs.push(work)
    return work
  }
  return { handler, jobs }
}

describe('consumeWith', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<string>('-')
      const unsub = '               -----!'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable }) => {
      const { handler } = slowHandler(cold)
      expectObservable(cold<string>('|').pipe(consumeWith(handler))).toBe('|')
    }))

  it('runs the handler for one value and completes once it has finished', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-a-|')
      const expected = '  -----(A|)'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler))).toBe(expected, upper)
    }))

  it('runs one handler at a time by default, values waiting in order', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abc-------------|')
      const expected = '  -----A---B---C---|'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler, { size: 5 }))).toBe(expected, upper)
    }))

  it('runs up to `concurrency` handlers at once', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abc--------|')
      const expected = '  -----AB--C--|'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler, { concurrency: 2 }))).toBe(expected, upper)
    }))

  it("drops the oldest waiting value when full, with 'drop-oldest'", () => {
    const dropped: [string, number][] = []
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abcd-----|')
      const expected = '  -----A---D|'
      const { handler } = slowHandler(cold)
      const onDrop = (value: string, count: number) => void dropped.push([value, count])
      expectObservable(source.pipe(consumeWith(handler, { size: 1, overflow: 'drop-oldest', onDrop }))).toBe(expected, upper)
    })
    expect(dropped).toEqual([
      ['b', 1],
      ['c', 2],
    ])
  })

  it("drops the arriving value when full, with 'drop-newest'", () => {
    const dropped: string[] = []
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abcd-----|')
      const expected = '  -----A---B|'
      const { handler } = slowHandler(cold)
      const onDrop = (value: string) => void dropped.push(value)
      expectObservable(source.pipe(consumeWith(handler, { size: 1, overflow: 'drop-newest', onDrop }))).toBe(expected, upper)
    })
    expect(dropped).toEqual(['c', 'd'])
  })

  it("errors with BufferOverflowError when full, with 'error' (the default), ending the running handler", () => {
    let jobs: Job[] = []
    runMarbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-abc------|')
      const subs = '      ^--!'
      const expected = '  ---#'
      const slow = slowHandler(cold)
      jobs = slow.jobs
      // As docs/operators.md draws it: no channel key when the values are not notifications.
      const overflow = new BufferOverflowError({ size: 1, consumer: 'consumeWith' })
      expectObservable(source.pipe(consumeWith(slow.handler, { size: 1 }))).toBe(expected, upper, overflow)
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
    expect(jobs.map((job) => job.subscriptions)).toEqual([[{ subscribedFrame: 1, unsubscribedFrame: 3 }]])
  })

  it('names the channel in a BufferOverflowError when the values are notifications', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const views = { a: notification('page-views', '1'), b: notification('page-views', '2'), c: notification('page-views', '3') }
      const source = hot('-abc-', views)
      const handler = () => cold('----|')
      const overflow = new BufferOverflowError({ size: 1, channel: 'page-views', consumer: 'consumeWith' })
      expectObservable(source.pipe(consumeWith(handler, { size: 1 }))).toBe('---#', undefined, overflow)
    }))

  it('counts each drop in the metrics it is given', () => {
    const db = createVirtualListener()
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abcde----|')
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler, { size: 1, overflow: 'drop-oldest', metrics: db.metrics }))).toBe('-----A---E|', upper)
    })
    expect(db.metrics.snapshot().dropped).toBe(3)
  })

  it('errors with what the handler throws, and unsubscribes', () =>
    runMarbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('handler failed')
      const source = hot('-a---b-----|')
      const subs = '      ^----!'
      const expected = '  -----#'
      const handler = (value: string) => {
        if (value === 'b') throw thrown
        return cold('-|')
      }
      expectObservable(source.pipe(consumeWith(handler))).toBe(expected, undefined, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it("errors when a handler's work errors", () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const failed = new Error('insert failed')
      const source = hot('-a------|')
      const expected = '  ---#'
      expectObservable(source.pipe(consumeWith(() => cold('--#', undefined, failed)))).toBe(expected, undefined, failed)
    }))

  it('passes a source error on at once, dropping what waits and ending the running handler', () => {
    let jobs: Job[] = []
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-ab#')
      const expected = '  ---#'
      const slow = slowHandler(cold)
      jobs = slow.jobs
      expectObservable(source.pipe(consumeWith(slow.handler))).toBe(expected, upper)
    })
    // b never started: it was waiting when the error came.
    expect(jobs.map((job) => job.subscriptions)).toEqual([[{ subscribedFrame: 1, unsubscribedFrame: 3 }]])
  })

  it('finishes what waits after the source completes', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-abc|')
      const expected = '  -----A---B---(C|)'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler, { size: 2 }))).toBe(expected, upper)
    }))

  it('keeps consuming a source that never ends', () =>
    runMarbles(({ cold, hot, expectObservable }) => {
      const source = hot('-a----b----c-----')
      const unsub = '     ----------------!'
      const expected = '  -----A----B----C-'
      const { handler } = slowHandler(cold)
      expectObservable(source.pipe(consumeWith(handler)), unsub).toBe(expected, upper)
    }))

  it('unsubscribes from the source and the running handler when unsubscribed early', () => {
    let jobs: Job[] = []
    runMarbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-ab-------|')
      const subs = '      ^--!'
      const unsub = '     ---!'
      const slow = slowHandler(cold)
      jobs = slow.jobs
      expectObservable(source.pipe(consumeWith(slow.handler)), unsub).toBe('----', upper)
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
    expect(jobs.map((job) => job.subscriptions)).toEqual([[{ subscribedFrame: 1, unsubscribedFrame: 3 }]])
  })

  it('takes the next waiting value at once when a handler finishes synchronously', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('-abc|')
      const expected = '  -abc|'
      expectObservable(source.pipe(consumeWith((value: string) => [value]))).toBe(expected)
    }))

  it('refuses a size, policy or concurrency that makes no sense', () => {
    const handler = () => [1]
    expect(() => consumeWith(handler, { size: 0 })).toThrow(RangeError)
    expect(() => consumeWith(handler, { size: 1.5 })).toThrow(RangeError)
    expect(() => consumeWith(handler, { overflow: 'drop-random' as never })).toThrow(RangeError)
    expect(() => consumeWith(handler, { concurrency: 0 })).toThrow(RangeError)
    expect(() => consumeWith(handler, { concurrency: Infinity })).not.toThrow()
  })
})
