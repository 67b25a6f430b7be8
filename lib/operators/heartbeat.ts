import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike } from 'rxjs'
import { SilenceTimer, assertPeriod } from './silence-timer.js'

const heartbeatBrand: unique symbol = Symbol.for('rxpg.heartbeat') as never

/**
 * What `heartbeat` emits when the stream has been quiet. Tell it from your values with `isHeartbeat`; its
 * brand is a symbol, so it can never be mistaken for a decoded payload (and `JSON.stringify` leaves it out).
 */
export interface Heartbeat {
  readonly [heartbeatBrand]: true
  /** When it was emitted (scheduler clock, ms). */
  readonly at: number
  /** Time of the last value, or of the subscription when there was none yet (scheduler clock, ms). */
  readonly silentSince: number
}

/** True for the values `heartbeat` added to a stream. */
export function isHeartbeat(value: unknown): value is Heartbeat {
  return typeof value === 'object' && value !== null && (value as Partial<Heartbeat>)[heartbeatBrand] === true
}

export interface HeartbeatOptions {
  /** Runs the timer. Default `asyncScheduler`; pass a `TestScheduler` to draw it in virtual time. */
  readonly scheduler?: SchedulerLike | undefined
}

/**
 * Adds a `Heartbeat` whenever the stream has been quiet for `period` ms: after `period` without a value, and
 * again every `period` while the quiet lasts. Every value restarts the count.
 *
 * Use it to keep an idle websocket or server-sent-events connection alive (proxies close connections that
 * carry nothing for a while) and to let the client see that the server is still there. Values pass through
 * untouched and at once; the stream completes or errors when its source does.
 *
 * ```ts
 * db.channel('prices')
 *   .pipe(heartbeat(15_000))
 *   .subscribe((event) => res.write(isHeartbeat(event) ? ': keep-alive\n\n' : `data: ${event.payload}\n\n`))
 * ```
 *
 * @param period Quiet time in ms before each heartbeat (positive and finite).
 * @param options `scheduler` for the timer.
 * @returns An operator from `T` to `T | Heartbeat`.
 */
export function heartbeat<T>(period: number, options: HeartbeatOptions = {}): OperatorFunction<T, T | Heartbeat> {
  assertPeriod('heartbeat', period)
  const scheduler = options.scheduler ?? asyncScheduler
  return (source) =>
    new Observable<T | Heartbeat>((subscriber) => {
      const timer = new SilenceTimer(scheduler, period, (silentSince, at) => subscriber.next({ [heartbeatBrand]: true, at, silentSince }))
      const subscription = source.subscribe({
        next: (value) => {
          timer.touch()
          subscriber.next(value)
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      })
      return () => {
        timer.stop()
        subscription.unsubscribe()
      }
    })
}
