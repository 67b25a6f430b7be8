import type { Observable } from 'rxjs'

/** A notification as a source hands it over, before the listener stamps it. */
export interface RawNotification {
  readonly channel: string
  readonly payload: string
  readonly processId: number
}

/**
 * The port between rxpg and a driver for the listening side. Everything a source does is an Observable, so
 * the connection state machine above it runs on marble diagrams in virtual time as well as on a real `pg`
 * client.
 *
 * `connect(clock)` opens one connection per subscription: it emits one `ListenSession` once the connection is
 * ready and errors if it cannot be opened (completing without a session counts as a lost connection).
 * Unsubscribing closes that connection, at once, also when the server never answered. The listener owns retries: a source never reconnects on its own (an adapter over a
 * library that does documents the difference). `clock` is the listener's clock (its scheduler's `now`): the
 * session reports in it when it last heard from the server.
 */
export interface NotificationSource {
  connect(clock: () => number): Observable<ListenSession>
  /**
   * The listener closed (after ending its last session): give back whatever the source took from what it was
   * given (an adapter's event listeners, a LISTEN of its own). Optional: a source that opens its own
   * connections has nothing left to give back. A promise returned is waited for by the listener's `close()`,
   * with the sessions' `end()`, for at most `notify.closeTimeout`.
   */
  close?(): void | Promise<void>
}

export interface ListenSession {
  /** Backend process id of this connection. */
  readonly processId: number
  /**
   * Every notification on this connection, in the order PostgreSQL delivered them. Errors (or completes)
   * when the connection is lost; the listener then reconnects.
   */
  readonly notifications: Observable<RawNotification>
  /**
   * Runs UNLISTEN for `remove`, then LISTEN for `add`, in one round trip where the driver allows. Names are
   * validated; the source quotes them. Emits once (any value) and completes when the server confirmed.
   */
  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown>
  /**
   * The channels this connection listens to, as PostgreSQL reports them (`pg_listening_channels()`): one value,
   * then complete. Completing without a value is no answer: the health check takes the connection for lost.
   */
  listeningChannels(): Observable<readonly string[]>
  /**
   * When this connection last received anything from the server (a notification, an answer), by the clock
   * given to `connect`: the last moment it was known to be alive. After a loss, what was committed from then
   * on may not have been delivered.
   */
  lastReceivedAt(): number
  /**
   * Closes the connection (idempotent) without waiting on a server that stopped answering; resolves once closed.
   * An adapter on a connection it does not own resolves once what it undid there is answered (its UNLISTENs): the
   * listener's `close()` waits for that at most `notify.closeTimeout`.
   */
  end(): Promise<void>
}
