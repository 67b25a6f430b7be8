import type { Observable, Observer } from 'rxjs'
import type { ConnectionLostError, ConnectionRejectedError, DeliveryBrokenError, RxpgError } from './errors.js'
import type { ListenerMetrics } from './metrics.js'
import type { PgNotification } from './pg-notification.js'

export type { PgNotification } from './pg-notification.js'

/**
 * `T` with every field optional and taking `undefined` as well: `Partial<T>` without the `| undefined` would
 * refuse a maybe-value under `exactOptionalPropertyTypes`, and every optional field of rxpg takes one.
 */
export type OptionalFields<T> = { readonly [K in keyof T]?: T[K] | undefined }

/**
 * What `notify$.next()` takes. A missing (`undefined`) payload sends ''; `null` is refused like any non-string.
 * Anything but such an object (a bare channel name, an array, `null`) is refused with `InvalidSinkValueError`.
 */
export interface NotificationToSend {
  readonly channel: string
  readonly payload?: string | undefined
}

/**
 * A stretch of time in which notifications may have been missed: from the last moment the lost connection
 * was known to be alive to the moment the new one was delivering again.
 */
export interface ListenerGap {
  /**
   * The last moment the lost connection was known to be alive: when it last received anything from the server
   * (listener scheduler clock; `Date.now()` on this machine by default). Notifications committed after it
   * may be missing. A notification committed slightly before it can be missing too, because delivery lags the
   * commit (by how much depends on the server's load); so can a row whose transaction started earlier (a row's
   * `now()` is its transaction's start), and the server's clock is not this machine's. A catch-up by time must
   * allow for all three; a catch-up from a cursor (the last id seen) needs none of it.
   */
  readonly since: number
  /** How long from `since` until the new connection was delivering, in ms. */
  readonly duration: number
}

/**
 * The life of the listening connection, as `state$` shows it.
 *
 * `idle` until the first channel is subscribed; `connecting` (opening the connection, LISTENing, and the
 * self-probe); `connected` once every subscribed channel is LISTENed and the probe came back; `reconnecting`
 * from the moment a connection is lost (or an attempt failed) until the next attempt, after a back-off delay
 * (none for the first attempt after losing a working connection); `failed` when the
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
      readonly gap?: ListenerGap | undefined
    }
  | {
      readonly status: 'reconnecting'
      /** 1 for the first retry after a loss, counting up until a connection succeeds. */
      readonly attempt: number
      /** The back-off delay before this attempt, in ms (0: at once). */
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
   * Whether PostgreSQL's LISTEN for `name` is in effect on the listening connection right now: `true` from the
   * moment the server confirmed it (what is committed from then on is delivered to `channel(name)`), `false`
   * while nobody subscribes, and while the connection is lost or being replaced. Replays the current value;
   * emits only changes. "Subscribe, then load a snapshot, then apply live changes" has no race when the
   * snapshot is loaded after this is `true` (`snapshotThenLive` does it).
   *
   * @throws InvalidChannelNameError when the name is empty, longer than 63 bytes or contains NUL.
   */
  listening(name: string): Observable<boolean>
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
   * emitted as a process warning instead, so they never vanish. Completes on `close()`, after the failures of the
   * sends still pending then: a `notify$.next()` after that is a process warning (`ListenerClosedError`).
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
