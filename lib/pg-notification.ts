/**
 * One notification as PostgreSQL delivered it. In a file of its own, so that what the browser entry reaches
 * (`DecodeError`, the decoders) does not reach the listener's types, which need Node's and `AsyncDisposable`'s.
 */
export interface PgNotification {
  /** The exact, case-sensitive channel name. */
  readonly channel: string
  /** The payload text ('' when NOTIFY was sent without one). */
  readonly payload: string
  /** Process id of the backend that sent it (`isOwnNotification` tells whether that was this listener's sink). */
  readonly processId: number
  /** When the listener received it, in the listener scheduler's clock (ms since the epoch by default). */
  readonly receivedAt: number
}
