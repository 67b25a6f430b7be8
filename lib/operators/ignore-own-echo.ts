import { filter, type MonoTypeOperatorFunction } from 'rxjs'
import type { PgListener, PgNotification } from '../types.js'

/**
 * Drops the notifications this process sent itself through `listener`'s `notify$` / `notify()`.
 *
 * Use it in a service that both sends and listens on a channel (a cache that invalidates its peers, a
 * collaborative editor) and has already applied its own change locally. The test is the sending backend's
 * process id, so it costs one Set lookup per notification.
 *
 * ```ts
 * db.channel('cache-invalidate')
 *   .pipe(ignoreOwnEcho(db))
 *   .subscribe((n) => cache.delete(n.payload)) // only other processes' invalidations
 * ```
 *
 * @param listener The listener whose sends count as "own" (anything with `isOwnNotification`).
 * @returns An operator that keeps notifications from everyone else.
 */
export function ignoreOwnEcho<T extends PgNotification>(listener: Pick<PgListener, 'isOwnNotification'>): MonoTypeOperatorFunction<T> {
  return filter((notification) => !listener.isOwnNotification(notification))
}
