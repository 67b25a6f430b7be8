import { filter, takeUntil, type MonoTypeOperatorFunction } from 'rxjs'
import { assertChannelName } from '../identifiers.js'
import type { PgListener } from '../types.js'

export interface TakeUntilStopOptions {
  /**
   * Which stop notifications count: a payload to match exactly, or a predicate on the payload (a thrown error
   * errors the stream). Default: any notification on the stop channel.
   */
  readonly payload?: string | ((payload: string) => boolean) | undefined
}

/**
 * Completes the stream when a notification arrives on `stopChannel` (optionally only one with a matching
 * payload): a stop button that any process, or a `SELECT pg_notify(...)` in psql, can press.
 *
 * Use it to end a worker's loop, a long export or a live view from outside, cleanly: the stream completes,
 * so `finalize` runs and every channel it listened to is UNLISTENed. Send the signal with `sendStop`. The stop
 * channel is LISTENed when the stream is subscribed (before its source), so a stop sent after that is never
 * missed; a stop sent before it is not seen (NOTIFY is not stored).
 *
 * ```ts
 * db.channel('jobs')
 *   .pipe(takeUntilStop(db, 'workers-stop', { payload: workerId }))
 *   .subscribe({ next: runJob, complete: () => console.log('stopped') })
 *
 * await sendStop(db, 'workers-stop', workerId) // elsewhere
 * ```
 *
 * @param listener The listener to hear the stop on (anything with `channel`).
 * @param stopChannel The stop channel's exact name (validated now: `InvalidChannelNameError`).
 * @param options `payload` to match.
 * @returns An operator that completes at the first matching stop notification.
 */
export function takeUntilStop<T>(
  listener: Pick<PgListener, 'channel'>,
  stopChannel: string,
  options: TakeUntilStopOptions = {},
): MonoTypeOperatorFunction<T> {
  assertChannelName(stopChannel)
  const expected = options.payload
  const stops = listener.channel(stopChannel)
  const notifier =
    expected === undefined
      ? stops
      : stops.pipe(filter(typeof expected === 'string' ? (n) => n.payload === expected : (n) => expected(n.payload)))
  return takeUntil(notifier)
}

/**
 * Sends the stop that `takeUntilStop(listener, stopChannel, { payload })` waits for; resolves once it is
 * committed (every stream listening to the stop channel then completes).
 *
 * ```ts
 * await sendStop(db, 'workers-stop')          // stops every worker
 * await sendStop(db, 'workers-stop', 'w-17')  // stops those waiting for payload 'w-17'
 * ```
 *
 * @param listener The listener to send with (anything with `notify`).
 * @param stopChannel The stop channel's exact name.
 * @param payload The payload stops may match on; default ''.
 */
export function sendStop(listener: Pick<PgListener, 'notify'>, stopChannel: string, payload = ''): Promise<void> {
  return listener.notify(stopChannel, payload)
}
