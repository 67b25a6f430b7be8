import { map, type Observable } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { heartbeat, isHeartbeat } from '../lib/index.js'
import { runMarbles } from '../lib/testing/index.js'

// heartbeat takes no user callback, so the "callback that throws" case of other operators has no analogue.

/** Shows each heartbeat as a plain record, which also proves `isHeartbeat` tells it from a value. */
const shown = <T>(source: Observable<T>) => source.pipe(map((event) => (isHeartbeat(event) ? { at: event.at, silentSince: event.silentSince } : event)))

describe('heartbeat', () => {
  it('emits a heartbeat after each quiet period of a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<string>('-')
      const unsub = '               -----------------!'
      const expected = '            -----h----i----j--'
      expectObservable(shown(source.pipe(heartbeat(5))), unsub).toBe(expected, {
        h: { at: 5, silentSince: 0 },
        i: { at: 10, silentSince: 0 },
        j: { at: 15, silentSince: 0 },
      })
      expectSubscriptions(source.subscriptions).toBe('^----------------!')
    }))

  it('completes without a heartbeat when the source completes at once', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<string>('|').pipe(heartbeat(5))).toBe('|')
    }))

  it('counts the quiet period from the last value', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a---------|')
      const expected = '  --a----h----|'
      expectObservable(shown(source.pipe(heartbeat(5)))).toBe(expected, { a: 'a', h: { at: 7, silentSince: 2 } })
    }))

  it('keeps the time of the last value in every heartbeat of one quiet spell', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('-a----------b-----|')
      const expected = '  -a----h----ib----j|'
      expectObservable(shown(source.pipe(heartbeat(5)))).toBe(expected, {
        a: 'a',
        b: 'b',
        h: { at: 6, silentSince: 1 },
        i: { at: 11, silentSince: 1 },
        j: { at: 17, silentSince: 12 },
      })
    }))

  it('emits no heartbeat while values come more often than the period', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a-b-c-d-e-|')
      const expected = '  --a-b-c-d-e-|'
      expectObservable(source.pipe(heartbeat(5))).toBe(expected)
    }))

  it('restarts the quiet period after each value and each heartbeat', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('-a------b--------c|')
      const expected = '  -a----h-b----i---c|'
      expectObservable(shown(source.pipe(heartbeat(5)))).toBe(expected, {
        a: 'a',
        b: 'b',
        c: 'c',
        h: { at: 6, silentSince: 1 },
        i: { at: 13, silentSince: 8 },
      })
    }))

  it('runs on the scheduler it is given', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = cold<string>('-')
      const unsub = '               ---------!'
      const expected = '            ---h--i--'
      expectObservable(shown(source.pipe(heartbeat(3, { scheduler }))), unsub).toBe(expected, {
        h: { at: 3, silentSince: 0 },
        i: { at: 6, silentSince: 0 },
      })
    }))

  it('passes a source error through and stops the timer', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold<string>('--a----#')
      const expected = '           --a----#'
      expectObservable(source.pipe(heartbeat(10))).toBe(expected)
    }))

  it('keeps beating on a quiet source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('a----------------')
      const unsub = '     ----------------!'
      const expected = '  a----h----i----j-'
      expectObservable(shown(source.pipe(heartbeat(5))), unsub).toBe(expected, {
        a: 'a',
        h: { at: 5, silentSince: 0 },
        i: { at: 10, silentSince: 0 },
        j: { at: 15, silentSince: 0 },
      })
    }))

  it('unsubscribes from the source, and beats no more, when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--------b--|')
      const subs = '      ^------!'
      const unsub = '     -------!'
      const expected = '  --a----'
      expectObservable(shown(source.pipe(heartbeat(5))), unsub).toBe(expected)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('refuses a period that is not positive and finite', () => {
    expect(() => heartbeat(0)).toThrow(RangeError)
    expect(() => heartbeat(-1)).toThrow(RangeError)
    expect(() => heartbeat(Infinity)).toThrow(RangeError)
    expect(() => heartbeat(Number.NaN)).toThrow(RangeError)
    // 30 days: more than a timer can wait (Node would fire it after 1 ms, a heartbeat in a loop).
    expect(() => heartbeat(30 * 24 * 60 * 60 * 1000)).toThrow(/at most 2147483647/)
  })

  it('makes heartbeats that JSON leaves without their brand, and that values never pass for', () => {
    runMarbles(({ cold, expectObservable }) => {
      const source = cold<unknown>('-')
      const events = source.pipe(
        heartbeat(2),
        map((event) => JSON.stringify(event)),
      )
      expectObservable(events, '---!').toBe('--j', { j: '{"at":2,"silentSince":0}' })
    })
    expect(isHeartbeat({ at: 2, silentSince: 0 })).toBe(false)
    expect(isHeartbeat({ type: 'heartbeat' })).toBe(false)
    expect(isHeartbeat(null)).toBe(false)
  })
})
