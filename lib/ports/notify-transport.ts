import type { Observable } from 'rxjs'

/** One notification on its way out. */
export interface OutgoingNotification {
  readonly channel: string
  readonly payload: string
}

/**
 * How a failed send ended, which decides what happens to the batch:
 * - `unavailable`: no connection could be had, or it broke before the batch was handed to it; nothing was
 *   sent, so the batch is kept and retried.
 * - `rejected`: PostgreSQL refused the statement; its transaction rolled back, nothing was sent.
 * - `interrupted`: the connection broke while the batch was in flight; it may or may not have committed.
 */
export type SendFailureKind = 'unavailable' | 'rejected' | 'interrupted'

export class SendFailure extends Error {
  constructor(
    readonly kind: SendFailureKind,
    readonly original: unknown,
  ) {
    super(`send ${kind}`)
  }
}

/** What `NotifyTransport.send` emits once the batch has been handed to a connection. */
export const DISPATCHED = 'dispatched'

/**
 * The port the notify$ sink (and the listener's self-probe) sends through: the pg transport in production, a
 * drawn one in marble tests (`virtualTransport` of `rxpg/testing`).
 */
export interface NotifyTransport {
  /**
   * Commits `batch` in one transaction. Emits `DISPATCHED` once the batch has been handed to a connection
   * (from then on a broken connection leaves its outcome unknown), completes once it is committed, or errors
   * with a `SendFailure`. Unsubscribing before it completes abandons the batch: a connection with the batch in
   * flight is destroyed (it can no longer be trusted), one still opening is closed.
   */
  send(batch: readonly OutgoingNotification[]): Observable<typeof DISPATCHED>
  /** Backend process ids of the connections this transport sent on (recent ones), to recognise own echoes. */
  readonly processIds: ReadonlySet<number>
  /**
   * Ends the connection the transport opened itself (never a pool the user passed), without waiting on a
   * server that stopped answering.
   */
  end(): Promise<void>
}
