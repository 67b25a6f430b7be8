import { EMPTY, Observable, exhaustMap, filter, ignoreElements, interval, map, tap, throwIfEmpty, type SchedulerLike } from 'rxjs'
import { ConnectionLostError } from '../errors.js'
import type { ListenSession } from '../ports/notification-source.js'
import type { ListenSync } from './listen-sync.js'

export interface HealthCheckOptions {
  /** Time between checks while connected, in ms. Default 30000. */
  readonly interval?: number | undefined
  /** How long one check may take before the connection is taken for dead, in ms. Default 5000. */
  readonly timeout?: number | undefined
}

/**
 * Checks a connected session every `interval` ms: `pg_listening_channels()` must answer within `timeout` of the
 * connection's last sign of life, and list exactly what the session LISTENed (a name the server truncated is
 * refused, see `ListenSync.reconcile`). Never emits; errors with `ConnectionLostError` when the connection is
 * silent (a half-open socket) or its LISTEN set is out of step.
 */
export function healthCheck(
  session: ListenSession,
  sync: ListenSync,
  options: Required<HealthCheckOptions> & { readonly scheduler: SchedulerLike },
): Observable<never> {
  const { scheduler } = options
  return interval(options.interval, scheduler).pipe(
    exhaustMap(() => {
      // One query at a time on the connection: a LISTEN batch in flight is itself a sign of life.
      if (sync.busy) return EMPTY
      const batchesBefore = sync.batchesStarted
      return answeredWhileAlive(session, options.timeout, scheduler).pipe(
        // A query that completed without a row is no answer either (a custom source's), not a pass.
        throwIfEmpty(() => new ConnectionLostError({ detail: 'health check got no answer (the LISTEN set query ended without one)' })),
        // A LISTEN batch that ran meanwhile makes the answer stale: judge only a quiet interval.
        filter(() => batchesBefore === sync.batchesStarted && !sync.busy),
        map((channels) => sync.reconcile(channels)),
        tap((mismatch) => {
          if (mismatch !== undefined) throw new ConnectionLostError({ detail: `health check found the server's LISTEN set out of step (${mismatch})` })
        }),
      )
    }),
    ignoreElements(),
  )
}

/**
 * The session's answer to `pg_listening_channels()`, or `ConnectionLostError` (ETIMEDOUT) once `timeout` ms pass
 * without an answer and without anything received. Anything the connection receives meanwhile (notifications)
 * is a sign of life that starts the time-out again: a backend delivering a burst to tens of thousands of
 * LISTENed channels answers the check only after it, and that connection works.
 */
function answeredWhileAlive(session: ListenSession, timeout: number, scheduler: SchedulerLike): Observable<readonly string[]> {
  return new Observable<readonly string[]>((subscriber) => {
    const answer = session.listeningChannels().subscribe(subscriber)
    let since = scheduler.now()
    const deadline = scheduler.schedule(function (this: { schedule(state?: undefined, delay?: number): unknown }) {
      const heard = session.lastReceivedAt()
      if (heard > since) {
        since = heard
        this.schedule(undefined, Math.max(0, heard + timeout - scheduler.now()))
        return
      }
      subscriber.error(new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: `health check got no answer within ${timeout} ms` }))
    }, timeout)
    return () => {
      answer.unsubscribe()
      deadline.unsubscribe()
    }
  })
}
