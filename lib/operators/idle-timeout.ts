import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs'
import { RxpgError } from '../errors.js'
import { SilenceTimer, assertPeriod } from './silence-timer.js'

/** A stream given `idleTimeout(period)` carried nothing for `period` ms. */
export class IdleTimeoutError extends RxpgError {
  override readonly name = 'IdleTimeoutError'
  readonly code = 'IDLE_TIMEOUT'
  constructor(
    readonly info: {
      /** The channel, when known: from the option, else from the last notification seen. */
      readonly channel: string | undefined
      /** The allowed quiet time, in ms. */
      readonly period: number
      /** When the last value arrived (scheduler clock, ms); undefined when none did. */
      readonly lastValueAt: number | undefined
      /** When the subscription started (scheduler clock, ms). */
      readonly subscribedAt: number
    },
  ) {
    super(
      `Nothing arrived${info.channel === undefined ? '' : ` on channel ${JSON.stringify(info.channel)}`} for ${info.period} ms ` +
        (info.lastValueAt === undefined ? '(nothing at all since the subscription).' : '(since the last value).'),
    )
  }
}

export interface IdleTimeoutOptions {
  /** Runs the timer. Default `asyncScheduler`; pass a `TestScheduler` to draw it in virtual time. */
  readonly scheduler?: SchedulerLike | undefined
  /** The channel to name in the error; by default taken from the last notification, when there was one. */
  readonly channel?: string | undefined
}

/**
 * Errors with an `IdleTimeoutError` when nothing arrived for `period` ms (counted from the subscription,
 * then from each value).
 *
 * Use it on a channel that must never go quiet: a producer that sends a tick every few seconds, a job queue
 * that always has work. A quiet channel is otherwise indistinguishable from a dead producer. Combine with
 * `retry` / `catchError` to restart or alert. (To keep a quiet connection alive instead, see `heartbeat`.)
 *
 * ```ts
 * db.channel('ticker')
 *   .pipe(idleTimeout(30_000), catchError((error) => { alert(error.message); return EMPTY }))
 *   .subscribe()
 * ```
 *
 * @param period Allowed quiet time in ms (positive and finite).
 * @param options `scheduler` for the timer; `channel` to name in the error.
 * @returns An operator that passes values through and errors on silence.
 */
export function idleTimeout<T>(period: number, options: IdleTimeoutOptions = {}): MonoTypeOperatorFunction<T> {
  assertPeriod('idleTimeout', period)
  const scheduler = options.scheduler ?? asyncScheduler
  return (source) =>
    new Observable<T>((subscriber) => {
      const subscribedAt = scheduler.now()
      let lastValueAt: number | undefined
      // Kept only to name the channel in the error; released on teardown.
      let lastValue: T | undefined
      const timer = new SilenceTimer(scheduler, period, () =>
        subscriber.error(new IdleTimeoutError({ channel: options.channel ?? channelOf(lastValue), period, lastValueAt, subscribedAt })),
      )
      const subscription = source.subscribe({
        next: (value) => {
          lastValueAt = timer.touch()
          lastValue = value
          subscriber.next(value)
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      })
      return () => {
        timer.stop()
        subscription.unsubscribe()
        lastValue = undefined
      }
    })
}

function channelOf(value: unknown): string | undefined {
  const channel = typeof value === 'object' && value !== null ? (value as { channel?: unknown }).channel : undefined
  return typeof channel === 'string' ? channel : undefined
}
