/**
 * Typed errors. One class per failure a user must tell apart; each has a stable `code`, an `info` object with
 * the facts needed to act, and never a secret. Test them with `instanceof`, which also types `info`; `code` is a
 * stable string to compare or log, and does not narrow the type.
 *
 * Every error that comes from the driver or the server uses the same `info` keys for what it was told:
 * `detail` (the underlying message, secrets removed), `sqlState` (PostgreSQL's SQLSTATE, when the server sent
 * one) and `systemCode` (Node's or the OS's error code, such as `ECONNREFUSED`), and keeps the original error
 * as `cause` (a copy with secrets removed when its own text held one).
 */

export type RxpgErrorCode =
  | 'INVALID_CHANNEL_NAME'
  | 'INVALID_PAYLOAD'
  | 'INVALID_SINK_VALUE'
  | 'PAYLOAD_TOO_LARGE'
  | 'CONNECTION_REJECTED'
  | 'CONNECTION_LOST'
  | 'NOTIFY_QUEUE_FULL'
  | 'NOTIFY_FAILED'
  | 'LISTENER_CLOSED'
  | 'DECODE_FAILED'
  | 'IDLE_TIMEOUT'
  | 'DELIVERY_BROKEN'
  | 'CHANNEL_REFUSED'
  | 'BUFFER_OVERFLOW'
  // Durable channels (rxpg/durable)
  | 'DURABLE_SCHEMA_MISSING'
  | 'DURABLE_UNSUPPORTED_SERVER'
  | 'DURABLE_INVALID_TOKEN'
  | 'DURABLE_CURSOR_EXPIRED'
  | 'DURABLE_INVALID_VALUE'
  | 'DURABLE_APPEND_FAILED'
  | 'DURABLE_QUERY_FAILED'
  | 'DURABLE_STALE_ACK'
  | 'DURABLE_HANDLER_ENDED_TRANSACTION'
  | 'DURABLE_LOG_CLOSED'
  // Replication change streams (rxpg/replication)
  | 'REPLICATION_SETUP'
  | 'REPLICATION_SLOT_IN_USE'
  | 'REPLICATION_RESUME_IMPOSSIBLE'
  | 'REPLICATION_INVALID_TOKEN'
  | 'REPLICATION_DECODE_FAILED'
  | 'REPLICATION_ACKS_NOT_REPORTED'
  | 'REPLICATION_STREAM_CLOSED'
  // Server-sent events client (rxpg/browser)
  | 'SSE_REQUEST_FAILED'
  | 'SSE_CONNECTION_LOST'
  // Table change feeds (rxpg/changes)
  | 'CHANGES_INVALID_FEED'
  | 'CHANGES_NOT_INSTALLED'
  | 'CHANGES_NO_PRIMARY_KEY'
  | 'CHANGES_UNSUPPORTED_SERVER'
  | 'CHANGES_QUERY_FAILED'
  // Marble-testing kit (rxpg/testing)
  | 'TESTING_VIRTUAL_TIME_LIMIT'

/** What a driver or server error said, in the keys every rxpg error uses. */
export interface DriverFacts {
  /** The underlying message, with any secret removed. */
  readonly detail: string
  /** PostgreSQL's SQLSTATE, when the server sent one. */
  readonly sqlState?: string | undefined
  /** Node's or the operating system's error code (`ECONNREFUSED`, `ETIMEDOUT`, `ERR_INVALID_URL`, ...), when there is one. */
  readonly systemCode?: string | undefined
}

export abstract class RxpgError extends Error {
  abstract readonly code: RxpgErrorCode
  abstract readonly info: object
}

/** The longest channel name PostgreSQL keeps (NAMEDATALEN - 1); longer names are silently truncated by LISTEN. */
export const MAX_CHANNEL_NAME_BYTES = 63
/** The largest payload PostgreSQL accepts: it must be shorter than 8000 bytes. */
export const MAX_PAYLOAD_BYTES = 7999

export type InvalidChannelNameReason = 'not-a-string' | 'empty' | 'too-long' | 'contains-nul' | 'malformed-unicode'

export class InvalidChannelNameError extends RxpgError {
  override readonly name = 'InvalidChannelNameError'
  readonly code = 'INVALID_CHANNEL_NAME'
  constructor(
    readonly info: {
      readonly channel: unknown
      readonly reason: InvalidChannelNameReason
      readonly byteLength?: number | undefined
      readonly limit: number
    },
  ) {
    super(describeChannelProblem(info))
  }
}

function describeChannelProblem(info: InvalidChannelNameError['info']): string {
  const allowed = `a channel name is a non-empty string of at most ${info.limit} bytes of UTF-8 without NUL or lone UTF-16 surrogates`
  switch (info.reason) {
    case 'not-a-string':
      return `Invalid channel name: expected a string, got ${info.channel === null ? 'null' : typeof info.channel}; ${allowed}.`
    case 'empty':
      return `Invalid channel name: it is empty; ${allowed}.`
    case 'too-long':
      return `Invalid channel name: it is ${info.byteLength} bytes of UTF-8, over the limit of ${info.limit} (PostgreSQL would truncate it); ${allowed}.`
    case 'contains-nul':
      return `Invalid channel name: it contains a NUL character, which PostgreSQL cannot store; ${allowed}.`
    case 'malformed-unicode':
      return `Invalid channel name: it contains a lone UTF-16 surrogate, which cannot be sent as UTF-8 unchanged; ${allowed}.`
  }
}

export type InvalidPayloadReason = 'not-a-string' | 'contains-nul' | 'malformed-unicode'

export class InvalidPayloadError extends RxpgError {
  override readonly name = 'InvalidPayloadError'
  readonly code = 'INVALID_PAYLOAD'
  constructor(readonly info: { readonly channel: string; readonly reason: InvalidPayloadReason }) {
    super(
      `Invalid payload for channel ${JSON.stringify(info.channel)}: ` +
        (info.reason === 'not-a-string'
          ? 'expected a string (encode objects first, e.g. with JSON.stringify or a typed channel)'
          : info.reason === 'contains-nul'
            ? 'it contains a NUL character, which PostgreSQL text cannot hold'
            : 'it contains a lone UTF-16 surrogate, which cannot be sent as UTF-8 unchanged') +
        `; a payload is a string of at most ${MAX_PAYLOAD_BYTES} bytes of UTF-8 without NUL or lone UTF-16 surrogates.`,
    )
  }
}

/**
 * A sink (`notify$`, a durable log's `append$`) was given something other than the object it takes: a bare
 * channel name, a tuple, `null`. Reported where the sink reports failures (`errors$`); nothing is sent for it.
 */
/** What a listener's `notify$` takes, as `InvalidSinkValueError` names it (the real sink and the virtual one). */
export const NOTIFY_SINK_SHAPE = '{ channel, payload? }'

export class InvalidSinkValueError extends RxpgError {
  override readonly name = 'InvalidSinkValueError'
  readonly code = 'INVALID_SINK_VALUE'
  constructor(
    readonly info: {
      /** `notify$` or `append$`. */
      readonly sink: string
      /** The shape it takes, e.g. `{ channel, payload? }`. */
      readonly expected: string
      readonly value: unknown
    },
  ) {
    super(`${info.sink}.next() takes an object ${info.expected}; got ${describeValue(info.value)}: refused, nothing sent.`)
  }
}

/** @internal What a value given in the wrong place is, for messages: `null`, `an array`, `a string ("p")`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`
  if (typeof value === 'object') {
    // A class instance is named by its class: an ORM's transaction object says which it is.
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } | undefined } | null)?.constructor?.name
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name} object` : 'an object'
  }
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`
}

/** Whether `value` can be what a sink or an options argument takes: a non-null object that is not an array. */
export function isObjectArgument(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export class PayloadTooLargeError extends RxpgError {
  override readonly name = 'PayloadTooLargeError'
  readonly code = 'PAYLOAD_TOO_LARGE'
  constructor(readonly info: { readonly channel: string; readonly byteLength: number; readonly limit: number }) {
    super(
      `Payload for channel ${JSON.stringify(info.channel)} is ${info.byteLength} bytes of UTF-8, over PostgreSQL's limit of ${info.limit} bytes; nothing was sent. Send a key and fetch the data, or split it.`,
    )
  }
}

export type ConnectionRejectedReason =
  | 'authentication-failed'
  | 'database-missing'
  | 'role-missing'
  | 'not-authorized'
  | 'configuration'

/**
 * The server refused the connection for a reason retrying cannot fix, or the configuration cannot work (a
 * connection string pg cannot parse). The listener stops; fix the configuration.
 */
export class ConnectionRejectedError extends RxpgError {
  override readonly name = 'ConnectionRejectedError'
  readonly code = 'CONNECTION_REJECTED'
  constructor(
    readonly info: DriverFacts & {
      readonly reason: ConnectionRejectedReason
      readonly host?: string | undefined
      readonly port?: number | undefined
      readonly database?: string | undefined
      readonly user?: string | undefined
    },
    options?: { cause?: unknown },
  ) {
    super(`${refusedOrNot(info)} (${info.reason}): ${info.detail}. ${fixFor(info.reason)}`, options)
  }
}

/**
 * Node's own codes (ERR_INVALID_URL for a connection string pg cannot parse, ERR_SOCKET_BAD_PORT) come from
 * the client, before or without any word from the server: PostgreSQL refused nothing.
 */
function refusedOrNot(info: DriverFacts): string {
  // Node's own codes, and a pool ended by the application: the client gave up before asking the server.
  return info.systemCode?.startsWith('ERR_') || /after calling end on the pool/.test(info.detail) ? 'Cannot connect to PostgreSQL' : 'PostgreSQL refused the connection'
}

function fixFor(reason: ConnectionRejectedReason): string {
  switch (reason) {
    case 'authentication-failed':
      return 'Retrying cannot fix this: check the password.'
    case 'database-missing':
      return 'Retrying cannot fix this: create the database or fix its name.'
    case 'role-missing':
      return 'Retrying cannot fix this: create the role or fix the user name.'
    case 'not-authorized':
      return 'Retrying cannot fix this: check pg_hba.conf and the role\'s LOGIN/CONNECT privileges.'
    case 'configuration':
      return 'Retrying cannot fix this: fix the connection configuration.'
  }
}

/** A transient failure of a connection: the listener (or sender) retries with back-off. Seen on `state$`. */
export class ConnectionLostError extends RxpgError {
  override readonly name = 'ConnectionLostError'
  readonly code = 'CONNECTION_LOST'
  constructor(readonly info: DriverFacts, options?: { cause?: unknown }) {
    super(`Connection to PostgreSQL lost or not available: ${info.detail}`, options)
  }
}

/** `notify()` / `notify$.next()` while the send queue is full: sends come faster than the sending connection commits them (a burst, or a connection down). */
export class NotifyQueueFullError extends RxpgError {
  override readonly name = 'NotifyQueueFullError'
  readonly code = 'NOTIFY_QUEUE_FULL'
  constructor(readonly info: { readonly channel: string; readonly limit: number }) {
    super(
      `Notification for channel ${JSON.stringify(info.channel)} was not queued: ${info.limit} notifications are already waiting for the sending connection; nothing was sent. Raise options.notify.maxQueue or slow the producer.`,
    )
  }
}

/**
 * A notification could not be sent. `outcome: 'not-sent'` means nothing of it was committed: PostgreSQL
 * rejected it, or it waited longer than `notify.timeout` without being sent. `'unknown'` means the connection
 * broke (or stopped answering for `notify.sendTimeout`) while its batch was in flight, so it may or may not
 * have been delivered (rxpg does not resend, so nothing is ever delivered twice).
 */
export class NotifyFailedError extends RxpgError {
  override readonly name = 'NotifyFailedError'
  readonly code = 'NOTIFY_FAILED'
  constructor(
    readonly info: DriverFacts & {
      readonly channel: string
      /** The notification's payload (not in the message, which may be logged): which send failed, where no caller holds it (`errors$`). */
      readonly payload: string
      readonly outcome: 'not-sent' | 'unknown'
    },
    options?: { cause?: unknown },
  ) {
    super(
      `Notification for channel ${JSON.stringify(info.channel)} ${info.outcome === 'not-sent' ? 'was not sent' : 'may not have been sent (the connection broke while it was in flight)'}: ${info.detail}`,
      options,
    )
  }
}

/** The listener was closed before (or while) the operation could complete. */
export class ListenerClosedError extends RxpgError {
  override readonly name = 'ListenerClosedError'
  readonly code = 'LISTENER_CLOSED'
  constructor(readonly info: { readonly operation: string }) {
    super(`The listener is closed: ${info.operation} cannot complete.`)
  }
}

/**
 * `server-refused`: the server refused to LISTEN to the name (a character the database's encoding has no
 * equivalent for, 22P05). `truncated-by-server`: the name is longer than 63 bytes in the database's encoding
 * (EUC_JP takes 3 bytes for some characters that UTF-8 writes in 2), so LISTEN listened to its first bytes instead.
 */
export type ChannelRefusedReason = 'server-refused' | 'truncated-by-server'

/**
 * A channel's name cannot be listened to on this database, which retrying cannot fix: that channel's
 * subscribers get this error (a new subscription tries again), and nothing else is affected: the listener
 * stays connected and the other channels receive.
 */
export class ChannelRefusedError extends RxpgError {
  override readonly name = 'ChannelRefusedError'
  readonly code = 'CHANNEL_REFUSED'
  constructor(
    readonly info: DriverFacts & {
      readonly channel: string
      readonly reason: ChannelRefusedReason
      /** `truncated-by-server`: the name the server listened to instead. */
      readonly listenedAs?: string | undefined
    },
    options?: { cause?: unknown },
  ) {
    super(
      info.reason === 'server-refused'
        ? `rxpg: the server refused to LISTEN to ${JSON.stringify(info.channel)} (${info.sqlState === undefined ? '' : `${info.sqlState}: `}${info.detail}): the database cannot hold this name (its encoding, not rxpg's limits, is what refuses it). Use a name of characters the database's encoding has; the other channels are not affected.`
        : `rxpg: the server listened to ${JSON.stringify(info.listenedAs ?? '')} instead of ${JSON.stringify(info.channel)}: the name is longer than 63 bytes in the database's encoding (rxpg counts 63 bytes of UTF-8), so LISTEN truncated it and nothing sent to the full name could arrive. Use a shorter name; the other channels are not affected.`,
      options,
    )
  }
}

export type DeliveryBrokenReason = 'probe-not-delivered' | 'notify-refused'

/**
 * The connection works but notifications cannot: found by the self-probe on connect (a NOTIFY to a private
 * channel the listener itself listens to, committed through the sending connection). `probe-not-delivered`
 * (committed, never arrived) is typical of a transaction-mode pooler (PgBouncer) that hands each statement to
 * another server connection; `notify-refused` of a read-only replica. Retrying cannot fix either: the
 * listener stops.
 */
export class DeliveryBrokenError extends RxpgError {
  override readonly name = 'DeliveryBrokenError'
  readonly code = 'DELIVERY_BROKEN'
  constructor(
    readonly info: DriverFacts & { readonly reason: DeliveryBrokenReason },
    options?: { cause?: unknown },
  ) {
    super(
      info.reason === 'probe-not-delivered'
        ? `Notifications are not delivered on this connection: a probe NOTIFY to the listener's own channel never arrived (${info.detail}). The likely cause is a transaction-mode pooler such as PgBouncer in front of PostgreSQL; LISTEN needs a direct connection or a session-mode pool. With notify.pool, check too that the pool connects to the same database and server as the listener.`
        : info.sqlState === '25006'
          ? `PostgreSQL refused LISTEN or NOTIFY on this connection (${info.detail}). It is a read-only server (a hot-standby replica); connect the listener to the primary.`
          : `PostgreSQL refused LISTEN or NOTIFY on this connection (${info.detail}). Check that the listener (and notify.pool) connect to a primary that accepts them.`,
      options,
    )
  }
}
