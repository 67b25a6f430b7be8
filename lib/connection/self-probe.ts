import { Observable, type SchedulerLike } from 'rxjs'
import { ConnectionLostError, DeliveryBrokenError } from '../errors.js'
import type { RawNotification } from '../ports/notification-source.js'

export interface SelfProbeOptions {
  /** The listener's private channel, LISTENed on the session before the probe is sent. */
  readonly channel: string
  /** How long the probe may take, from sending to arrival, in ms. */
  readonly timeout: number
  readonly scheduler: SchedulerLike
  /**
   * Commits one NOTIFY through ANOTHER connection than the listening one (the sending connection, through the
   * same pooler if any): completes once committed; errors with `DeliveryBrokenError` when it is refused for
   * good (a read-only server), or another error when the sending connection failed (transient). Unsubscribing
   * abandons it. A probe sent on the listening connection itself would pass behind a transaction-mode pooler,
   * which hands one client the same server connection back.
   */
  send(channel: string, payload: string): Observable<unknown>
}

/**
 * Confirms that notifications reach the listening connection: sends `token` to the private channel and waits
 * for it on `notifications`. Completes when it arrives. Errors with:
 * - `DeliveryBrokenError` (`probe-not-delivered`) when the NOTIFY was committed but did not arrive in time:
 *   a transaction-mode pooler, retrying cannot fix it;
 * - `ConnectionLostError` when the NOTIFY could not be committed in time: the sending connection is dead or
 *   slow, a transient failure (abandoning the send makes the transport replace that connection);
 * - the send's own error otherwise.
 */
export function selfProbe(notifications: Observable<RawNotification>, token: string, options: SelfProbeOptions): Observable<never> {
  const { channel, timeout, scheduler } = options
  return new Observable<never>((subscriber) => {
    let committed = false
    let arrived = false
    // Listen for the arrival before sending: the notification can come before the NOTIFY's own answer.
    const arrival = notifications.subscribe({
      next: (notification) => {
        if (notification.channel !== channel || notification.payload !== token) return
        arrived = true
        subscriber.complete()
      },
      error: (error: unknown) => subscriber.error(error),
    })
    const sending = options.send(channel, token).subscribe({
      error: (error: unknown) => subscriber.error(error),
      complete: () => (committed = true),
    })
    const timer = scheduler.schedule(() => {
      subscriber.error(
        committed
          ? new DeliveryBrokenError({
              reason: 'probe-not-delivered',
              detail: `a NOTIFY committed through the sending connection did not reach the listening connection within ${timeout} ms`,
            })
          : new ConnectionLostError({
              systemCode: 'ETIMEDOUT',
              detail: `the sending connection did not commit the self-probe's NOTIFY within ${timeout} ms (a connection that died, or a notify.pool with no free connection)`,
            }),
      )
    }, timeout)
    return () => {
      timer.unsubscribe()
      arrival.unsubscribe()
      // Arrived before its commit was answered: the answer is on its way, and abandoning the send would make
      // the transport give up a healthy connection.
      if (!arrived || committed) sending.unsubscribe()
    }
  })
}
