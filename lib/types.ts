import type { Observable, Observer } from 'rxjs'
import type { ConnectionLostError, ConnectionRejectedError, DeliveryBrokenError, RxpgError } from './errors.js'
import type { ListenerMetrics } from './metrics.js'

/** One notification as PostgreSQL delivered it. */
export interface PgNotification {
  /** The exact, case-sensitive channel name. */
  readonly channel: string
  /** The payload text ('' when NOTIFY was sent without one). */
  readonly payload: string
  /** Process id of the backend that sent it (compare with `ListenerState.processId` to spot your own echo). */
  readonly processId: number
  /** When the listener received it, in the listener scheduler's clock (ms since the epoch by default). */
  readonly receivedAt: number
}

/** What `notify$.next()` takes. A missing payload sends ''. */
export interface NotificationToSend {
  readonly channel: string
  readonly payload?: string
}

/** A stretch of time in which the listener was not connected (so notifications may have been missed). */
export interface ListenerGap {
  /** When the previous connection was found lost (scheduler clock). */
  readonly since: number
  /** How long the listener was without a working connection, in ms. */
  readonly duration: number
}

/**
 * The life of the listening connection, as `state$` shows it.
 *
 * `idle` until the first channel is subscribed; `connecting`; `connected` once every subscribed channel is
 * LISTENed; `reconnecting` while waiting out a back-off delay after a transient failure; `failed` when the
 * server refused the connection, or notifications cannot be delivered on it, for a reason retrying cannot fix
 * (the listener stops); `closed` after `close()`.
 */
export type ListenerState =
  | { readonly status: 'idle' }
  | {
      readonly status: 'connecting'
      /** Which retry this is since the last successful connection (the very first connection is attempt 1 too). */
      readonly attempt: number
    }
  | {
      readonly status: 'connected'
      /** Backend process id of the listening connection. */
      readonly processId: number
      /** Present when this connection replaces one that was lost: the time in which notifications may have been missed. */
      readonly gap?: ListenerGap
    }
  | {
      readonly status: 'reconnecting'
      /** 1 for the first retry after a loss, counting up until a connection succeeds. */
      readonly attempt: number
      /** The back-off delay before this attempt, in ms. */
      readonly delay: number
      readonly lastError: ConnectionLostError
    }
  | { readonly status: 'failed'; readonly error: ConnectionRejectedError | DeliveryBrokenError }
  | { readonly status: 'closed' }

export type ListenerStatus = ListenerState['status']

/**
 * The listener's public face. `createPgListener` returns one backed by PostgreSQL; `rxpg/testing` provides a
 * virtual one driven by marble diagrams. Write business logic against this interface and it runs on both.
 */
export interface PgListener extends AsyncDisposable {
  /**
   * The hot, shared stream of one channel. LISTEN is sent when the first subscriber arrives and UNLISTEN
   * after the last one leaves; the same name always gives the same Observable. It never errors on a
   * transient failure (it waits through reconnects); it errors with `ConnectionRejectedError` when the server
   * refuses the connection for good, and completes on `close()`.
   *
   * @throws InvalidChannelNameError when the name is empty, longer than 63 bytes or contains NUL.
   */
  channel(name: string): Observable<PgNotification>
  /**
   * The send sink: `notify$.next({ channel, payload })`. Validated at once, batched, sent in call order.
   * Failures (bad input, queue full, server errors) are emitted on `errors$`. `error()` and `complete()`
   * are ignored, so `source$.subscribe(db.notify$)` never closes the sink for others.
   */
  readonly notify$: Observer<NotificationToSend>
  /** Sends one notification; resolves once it is committed, rejects with a typed error when it cannot be sent. */
  notify(channel: string, payload?: string): Promise<void>
  /** The listening connection's state, replaying the current one to each new subscriber. Completes on `close()`. */
  readonly state$: Observable<ListenerState>
  /**
   * Failures that have no caller to reject: errors from `notify$.next()`. When nothing subscribes, they are
   * emitted as a process warning instead, so they never vanish.
   */
  readonly errors$: Observable<RxpgError>
  /**
   * True when `notification` was sent by this listener's own notify$ sink (its backend process id is one
   * of the sending connections'), so a service that sends and listens can ignore its own echo.
   */
  isOwnNotification(notification: PgNotification): boolean
  /** Counters (received, sent, reconnects, queue depth, ...); operators can record into it. */
  readonly metrics: ListenerMetrics
  /** Completes every channel and `state$`, settles pending sends, ends every connection and timer. Idempotent. */
  close(): Promise<void>
}
