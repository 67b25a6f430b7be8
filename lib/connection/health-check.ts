import { EMPTY, Observable, exhaustMap, filter, ignoreElements, interval, map, tap, throwError, throwIfEmpty, timeout, type SchedulerLike } from 'rxjs'
import { ConnectionLostError } from '../errors.js'
import type { ListenSession } from '../ports/notification-source.js'
import type { ListenSync } from './listen-sync.js'

export interface HealthCheckOptions {
  /** Time between checks while connected, in ms. Default 30000. */
  readonly interval?: number
  /** How long one check may take before the connection is taken for dead, in ms. Default 5000. */
  readonly timeout?: number
}

/**
 * Checks a connected session every `interval` ms: `pg_listening_channels()` must answer within `timeout` and
 * list exactly what the session LISTENed. Never emits; errors with `ConnectionLostError` when the connection
 * is silent (a half-open socket) or its LISTEN set is out of step.
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
      return session.listeningChannels().pipe(
        timeout({
          first: options.timeout,
          scheduler,
          with: () =>
            throwError(() => new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: `health check got no answer within ${options.timeout} ms` })),
        }),
        // A query that completed without a row is no answer either (a custom source's), not a pass.
        throwIfEmpty(() => new ConnectionLostError({ detail: 'health check got no answer (the LISTEN set query ended without one)' })),
        // A LISTEN batch that ran meanwhile makes the answer stale: judge only a quiet interval.
        filter(() => batchesBefore === sync.batchesStarted && !sync.busy),
        map((channels) => sync.mismatch(channels)),
        tap((mismatch) => {
          if (mismatch !== undefined) throw new ConnectionLostError({ detail: `health check found the server's LISTEN set out of step (${mismatch})` })
        }),
      )
    }),
    ignoreElements(),
  )
}
