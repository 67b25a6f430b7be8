import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { decodeValid, type DecodeError, type PgNotification } from '../lib/index.js'
import { createVirtualListener, notification, runMarbles } from '../lib/testing/index.js'

const Order = z.object({ id: z.number() })

const values = {
  a: notification('orders', '{"id":1}'),
  b: notification('orders', '{"id":2}'),
  x: notification('orders', '{"id":"x"}'),
  y: notification('orders', 'nope'),
}
const decoded = { r: { id: 1 }, s: { id: 2 } }

describe('decodeValid', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const unsub = '                       -------!'
      expectObservable(source.pipe(decodeValid(Order)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^------!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<PgNotification>('|').pipe(decodeValid(Order))).toBe('|')
    }))

  it('emits the decoded value of one valid payload', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--|', values)
      const expected = '   --r--|'
      expectObservable(source.pipe(decodeValid(Order))).toBe(expected, decoded)
    }))

  it('skips payloads that do not decode and keeps the valid ones', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--y--b--|', values)
      const expected = '  --r--------s--|'
      expectObservable(source.pipe(decodeValid(Order))).toBe(expected, decoded)
    }))

  it('hands each payload that does not decode to onInvalid', () => {
    const invalid: DecodeError[] = []
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--x--a--y--|', values)
      const expected = '  -----r-----|'
      expectObservable(source.pipe(decodeValid(Order, { onInvalid: (error) => invalid.push(error) }))).toBe(expected, decoded)
    })
    expect(invalid.map((error) => error.info.payload)).toEqual(['{"id":"x"}', 'nope'])
  })

  it('errors with what onInvalid throws', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('dead-letter queue unavailable')
      const source = hot('--a--x--b--|', values)
      const subs = '      ^----!'
      const expected = '  --r--#'
      const onInvalid = () => {
        throw thrown
      }
      expectObservable(source.pipe(decodeValid(Order, { onInvalid }))).toBe(expected, decoded, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('skips payloads whose decoder throws', () => {
    const throwing = (u: unknown) => {
      if ((u as { id: number }).id === 2) throw new Error('boom')
      return { _tag: 'Right' as const, right: u as { id: number } }
    }
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--b--a--|', values)
      const expected = '   --r-----r--|'
      expectObservable(source.pipe(decodeValid(throwing))).toBe(expected, decoded)
    })
  })

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--#', values)
      const expected = '   --r--#'
      expectObservable(source.pipe(decodeValid(Order))).toBe(expected, decoded)
    }))

  it('keeps going on a source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--x--a--', values)
      const unsub = '     ----------------!'
      const expected = '  --r-----s-----r--'
      expectObservable(source.pipe(decodeValid(Order)), unsub).toBe(expected, decoded)
    }))

  it('unsubscribes from the source when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--|', values)
      const subs = '      ^----!'
      const unsub = '     -----!'
      const expected = '  --r---'
      expectObservable(source.pipe(decodeValid(Order)), unsub).toBe(expected, decoded)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('counts each skipped payload in the metrics it is given', () => {
    const db = createVirtualListener()
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--x--a--y--|', values)
      const expected = '   -----r-----|'
      expectObservable(source.pipe(decodeValid(Order, { metrics: db.metrics }))).toBe(expected, decoded)
    })
    expect(db.metrics.snapshot().decodeFailures).toBe(2)
  })
})
