import type { Observable } from 'rxjs'

/** A notification as a source hands it over, before the listener stamps it. */
export interface RawNotification {
  readonly channel: string
  readonly payload: string
  readonly processId: number
}

/**
 * The port between rxpg and a driver. Everything a source does is an Observable, so the connection state
 * machine above it can be driven by marble diagrams in virtual time as well as by a real `pg` client.
 *
 * `connect()` opens one connection per subscription: it emits one `ListenSession` once the connection is
 * ready and errors if it cannot be opened. Unsubscribing closes that connection. The listener owns retries:
 * a source never reconnects on its own (an adapter over a library that does documents the difference).
 */
export interface NotificationSource {
  connect(): Observable<ListenSession>
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
  /** The channels this connection listens to, as PostgreSQL reports them (`pg_listening_channels()`). */
  listeningChannels(): Observable<readonly string[]>
  /**
   * Sends a notification on this very connection. Only the listener's delivery self-probe uses it: the
   * notify$ sink always sends on another connection.
   */
  notifySelf(channel: string, payload: string): Observable<unknown>
  /** Closes the connection (idempotent); resolves once it is closed. Unsubscribing from `connect()` does the same. */
  end(): Promise<void>
}
