import { deepStrictEqual } from 'node:assert/strict'
import { TestScheduler, type RunHelpers } from 'rxjs/testing'
import { comparable } from './compare.js'
import { createVirtualListener, type VirtualListener, type VirtualListenerOptions } from './virtual-listener.js'

/** Throws when `actual` and `expected` differ (vitest's `(a, e) => expect(a).toEqual(e)` fits). */
export type AssertDeepEqual = (actual: unknown, expected: unknown) => void

export interface MarbleOptions {
  /** How frames are compared, after errors are reduced to their `errorShape`. Default: node's `assert.deepStrictEqual`. */
  readonly assertDeepEqual?: AssertDeepEqual
}

/** `TestScheduler.run`'s helpers, plus the scheduler itself and a virtual listener that takes string diagrams. */
export interface MarbleHelpers extends RunHelpers {
  /** The scheduler of this run: give it to whatever takes a `SchedulerLike` (`createPgListener`, operators). */
  readonly scheduler: TestScheduler
  /** `createVirtualListener` on this run's scheduler; channels may be drawn as strings (made hot). */
  virtualListener(options?: Omit<VirtualListenerOptions, 'hot' | 'scheduler'>): VirtualListener
}

/**
 * A `TestScheduler` whose frames compare errors by `name`, `code` and `info` (never by stack or identity), so
 * an expected `new ConnectionRejectedError({...})` matches the one the code under test made.
 */
export function createMarbleScheduler(options: MarbleOptions = {}): TestScheduler {
  const assertDeepEqual = options.assertDeepEqual ?? deepStrictEqual
  return new TestScheduler((actual, expected) => assertDeepEqual(comparable(actual), comparable(expected)))
}

/**
 * Runs `callback` in virtual time (`TestScheduler.run`) on a fresh `createMarbleScheduler`, and checks every
 * `expectObservable` / `expectSubscriptions` when it returns.
 *
 * ```ts
 * it('ships an order once it is paid', () =>
 *   runMarbles(({ virtualListener, expectObservable }) => {
 *     const db = virtualListener({ channels: { orders: '-p-' }, values: { p: '{"id":1,"status":"paid"}' } })
 *     shipPaidOrders(db).subscribe()
 *     expectObservable(db.sent$).toBe('-s-', { s: { channel: 'order-shipped', payload: '1' } })
 *   }))
 * ```
 */
export function runMarbles<T>(callback: (helpers: MarbleHelpers) => T, options: MarbleOptions = {}): T {
  const scheduler = createMarbleScheduler(options)
  return scheduler.run((helpers) =>
    callback({
      ...helpers,
      scheduler,
      virtualListener: (listenerOptions = {}) => createVirtualListener({ ...listenerOptions, hot: helpers.hot, scheduler }),
    }),
  )
}
