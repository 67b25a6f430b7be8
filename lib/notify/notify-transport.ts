import type { Observable } from 'rxjs'

/** One notification on its way out. */
export interface OutgoingNotification {
  readonly channel: string
  readonly payload: string
}

/**
 * How a failed send ended, which decides what the batcher does with it:
 * - `unavailable`: no connection could be had; nothing was sent, so the batch is kept and retried.
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

/**
 * The port the notify$ sink sends through: the pg transport in production, a recorder in marble tests.
 * `send` commits the batch in one transaction and completes, or errors with a `SendFailure`.
 */
export interface NotifyTransport {
  send(batch: readonly OutgoingNotification[]): Observable<unknown>
  /** Backend process ids of the connections this transport sent on (recent ones), to recognise own echoes. */
  readonly processIds: ReadonlySet<number>
  /** Ends the connection the transport opened itself (never a pool the user passed). */
  end(): Promise<void>
}
