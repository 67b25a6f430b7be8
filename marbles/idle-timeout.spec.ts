import { describe, expect, it } from 'vitest'
import { IdleTimeoutError, idleTimeout, type PgNotification } from '../lib/index.js'
import { notification, runMarbles } from '../lib/testing/index.js'

// idleTimeout takes no user callback, so the "callback that throws" case of other operators has no analogue.
const values = { a: notification('ticker', '1'), b: notification('ticker', '2') }

describe('idleTimeout', () => {
  it('errors after one period when the source never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const expected = '                   -----#'
      const subs = '                       ^----!'
      const error = new IdleTimeoutError({ channel: undefined, period: 5, lastValueAt: undefined, subscribedAt: 0 })
      expectObservable(source.pipe(idleTimeout(5))).toBe(expected, undefined, error)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('completes when the source completes at once', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<PgNotification>('|').pipe(idleTimeout(5))).toBe('|')
    }))

  it('errors one period after the last value, naming its channel', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a-----------', values)
      const expected = '  --a----#'
      const error = new IdleTimeoutError({ channel: 'ticker', period: 5, lastValueAt: 2, subscribedAt: 0 })
      expectObservable(source.pipe(idleTimeout(5))).toBe(expected, values, error)
    }))

  it('passes values through while they come more often than the period', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a---b---a---b-|', values)
      const expected = '  --a---b---a---b-|'
      expectObservable(source.pipe(idleTimeout(5))).toBe(expected, values)
    }))

  it('names the channel it is given, before any value', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = cold<PgNotification>('-')
      const error = new IdleTimeoutError({ channel: 'orders', period: 3, lastValueAt: undefined, subscribedAt: 0 })
      expectObservable(source.pipe(idleTimeout(3, { channel: 'orders', scheduler }))).toBe('---#', undefined, error)
    }))

  it('counts the period from the subscription', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('---^---------', values)
      const expected = '     ----#'
      const error = new IdleTimeoutError({ channel: undefined, period: 4, lastValueAt: undefined, subscribedAt: 0 })
      expectObservable(source.pipe(idleTimeout(4))).toBe(expected, values, error)
    }))

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a-#', values)
      const expected = '   --a-#'
      expectObservable(source.pipe(idleTimeout(5))).toBe(expected, values)
    }))

  it('never errors on a busy source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('-a--b--a--b--a--b--', values)
      const unsub = '     ------------------!'
      const expected = '  -a--b--a--b--a--b--'
      expectObservable(source.pipe(idleTimeout(4)), unsub).toBe(expected, values)
    }))

  it('unsubscribes from the source, and times out no more, when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--------', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --a--------'
      expectObservable(source.pipe(idleTimeout(5)), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('refuses a period that is not positive and finite', () => {
    expect(() => idleTimeout(0)).toThrow(RangeError)
    expect(() => idleTimeout(2 ** 31)).toThrow(/at most 2147483647/)
    expect(() => idleTimeout(Infinity)).toThrow(RangeError)
  })

  it('makes an error that reads well and switches on its code', () => {
    const error = new IdleTimeoutError({ channel: 'ticker', period: 30000, lastValueAt: 5, subscribedAt: 0 })
    expect(error.code).toBe('IDLE_TIMEOUT')
    expect(error.message).toBe('Nothing arrived on channel "ticker" for 30000 ms (since the last value).')
  })
})
