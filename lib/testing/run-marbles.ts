import { deepStrictEqual } from 'node:assert/strict'
import { TestScheduler, type RunHelpers } from 'rxjs/testing'
import { comparable } from './compare.js'
import { createVirtualListener, type VirtualListener, type VirtualListenerOptions } from './virtual-listener.js'
import { DEFAULT_MAX_VIRTUAL_TIME, VirtualTimeLimitError } from './virtual-time-limit.js'

/** Throws when `actual` and `expected` differ (vitest's `(a, e) => expect(a).toEqual(e)` fits). */
export type AssertDeepEqual = (actual: unknown, expected: unknown) => void

export interface MarbleOptions {
  /** How frames are compared, after errors are reduced to their `errorShape`. Default: node's `assert.deepStrictEqual`. */
  readonly assertDeepEqual?: AssertDeepEqual | undefined
  /**
   * `runMarbles` only: how far virtual time may run, in milliseconds (frames). A run that reaches it with timers
   * still scheduled throws `VirtualTimeLimitError` instead of running for ever. Default: one hour (3,600,000).
   */
  readonly maxVirtualTime?: number | undefined
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
 * `expectObservable` / `expectSubscriptions` when it returns. The callback is synchronous: one that returns a
 * Promise is refused with a `TypeError` (what it would check after an `await` is never compared).
 *
 * ```ts
 * it('ships an order once it is paid', () =>
 *   runMarbles(({ virtualListener, expectObservable }) => {
 *     const db = virtualListener({ channels: { orders: '-p-' }, values: { p: '{"id":1,"status":"paid"}' } })
 *     shipPaidOrders(db).subscribe()
 *     expectObservable(db.sent$).toBe('-s-', { s: { channel: 'order-shipped', payload: '{"id":1}' } })
 *   }))
 * ```
 */
export function runMarbles<T>(callback: (helpers: MarbleHelpers) => T, options: MarbleOptions = {}): T {
  const maxVirtualTime = options.maxVirtualTime ?? DEFAULT_MAX_VIRTUAL_TIME
  if (!(maxVirtualTime >= 0)) throw new RangeError(`maxVirtualTime must be a number of milliseconds, 0 or more; got ${String(maxVirtualTime)}`)
  const scheduler = createMarbleScheduler(options)
  // A callback may stop time where it wants with scheduler.maxFrames (TestScheduler's own idiom); the limit is
  // then its business, and timers left past it are what it asked for.
  let ownLimit = false
  let failure: { readonly error: unknown } | undefined
  let result: T | undefined
  try {
    result = scheduler.run((helpers) => {
      // run() lifts maxFrames to Infinity before calling back; the limit goes on after that.
      scheduler.maxFrames = maxVirtualTime
      try {
        return callback({
          ...helpers,
          scheduler,
          virtualListener: (listenerOptions = {}) => createVirtualListener({ ...listenerOptions, hot: helpers.hot, scheduler }),
        })
      } finally {
        ownLimit = scheduler.maxFrames !== maxVirtualTime
      }
    })
  } catch (error) {
    failure = { error }
  }
  const pending = scheduler.actions.filter((action) => !action.closed)
  for (const action of scheduler.actions.splice(0)) action.unsubscribe()
  // Whatever else failed, a run stopped at the limit with timers left would never have ended: say that first,
  // since its expectations were compared against a run cut short.
  const [next] = pending
  if (next !== undefined && !ownLimit) {
    throw new VirtualTimeLimitError({ maxVirtualTime, pendingTimers: pending.length, nextTimerAt: next.delay ?? maxVirtualTime }, failure && { cause: failure.error })
  }
  if (failure) throw failure.error
  if (isThenable(result)) {
    // Its rejection is this TypeError's business now, not an unhandled one.
    result.then(undefined, () => undefined)
    throw new TypeError(
      'runMarbles: the callback returned a Promise: virtual time ends when it returns, so what it checks after an await is never compared. Keep the callback synchronous; check Promises (notify()) in a plain async test.',
    )
  }
  return result as T
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
}
