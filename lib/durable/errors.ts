/**
 * The typed errors of durable channels. Each has a stable `code`, an `info` object of facts (`detail` for the
 * underlying message, `sqlState` for PostgreSQL's SQLSTATE, `systemCode` for Node's error code), the driver's
 * original error as `cause`, and a message that says what was wrong and what to do. None carries a password.
 */
import { RxpgError } from '../index.js'

/** The durable schema is not installed in the database, or is of another version than this rxpg needs. */
export class DurableSchemaMissingError extends RxpgError {
  override readonly name = 'DurableSchemaMissingError'
  readonly code = 'DURABLE_SCHEMA_MISSING'
  constructor(
    readonly info: {
      readonly schema: string
      readonly reason: 'missing' | 'outdated'
      /** The schema version this rxpg needs. */
      readonly expectedVersion: number
      /** The version found in the database, when one was. */
      readonly foundVersion?: number | undefined
      readonly sqlState?: string | undefined
      readonly detail: string
    },
    options?: { cause?: unknown },
  ) {
    const newer = info.reason === 'outdated' && info.foundVersion !== undefined && info.foundVersion > info.expectedVersion
    super(
      newer
        ? `The durable log schema ${JSON.stringify(info.schema)} is version ${info.foundVersion}, newer than this rxpg (which knows version ${info.expectedVersion}): a newer rxpg installed it: upgrade rxpg in this application (its SQL cannot take the schema back).`
        : (info.reason === 'missing'
            ? `The durable log schema ${JSON.stringify(info.schema)} is not installed, or was renamed since it was installed (its functions still name the old schema) (${info.detail}). `
            : `The durable log schema ${JSON.stringify(info.schema)} is version ${info.foundVersion}, this rxpg needs version ${info.expectedVersion}. `) +
            `Install it with \`npx rxpg sql durable --schema ${shellWord(info.schema)} | psql -1 -v ON_ERROR_STOP=1 "$DATABASE_URL"\` (or your migration tool), or call log.ensureSchema() in development.`,
      options,
    )
  }
}

/** The server is older than PostgreSQL 12, the oldest version durable channels support. */
export class UnsupportedServerError extends RxpgError {
  override readonly name = 'UnsupportedServerError'
  readonly code = 'DURABLE_UNSUPPORTED_SERVER'
  constructor(readonly info: { readonly serverVersionNum: number; readonly minimumVersionNum: number }) {
    super(
      `Durable channels need PostgreSQL 12 or later (server_version_num ${info.minimumVersionNum}); this server is ${info.serverVersionNum}. Upgrade the server.`,
    )
  }
}

export type InvalidTokenReason = 'malformed' | 'other-log' | 'ahead-of-database'

/**
 * A resume token rxpg cannot use: not one of its tokens (`malformed`), made by another durable log (another
 * database or schema: `other-log`), or pointing past anything this database has written or at a message of an
 * older epoch it does not have (`ahead-of-database`: typically a database restored from a backup older than the
 * token). Resuming anyway could skip messages, so
 * the read stops: resume from `'earliest'` or from a token this log gave.
 */
export class InvalidTokenError extends RxpgError {
  override readonly name = 'InvalidTokenError'
  readonly code = 'DURABLE_INVALID_TOKEN'
  constructor(readonly info: { readonly token: string; readonly reason: InvalidTokenReason; readonly detail: string }) {
    super(`Resume token ${JSON.stringify(info.token.slice(0, 100))} cannot be used (${info.reason}): ${info.detail}. Resume from 'earliest' or from a token this log gave.`)
  }
}

/**
 * The position is older than the log's retention: messages after it were dropped, so resuming from it would
 * silently skip them. rxpg never restarts from "now" on its own: decide (resume from 'earliest', rebuild, alert).
 */
export class CursorExpiredError extends RxpgError {
  override readonly name = 'CursorExpiredError'
  readonly code = 'DURABLE_CURSOR_EXPIRED'
  constructor(readonly info: { readonly channel: string; readonly token: string; readonly group?: string | undefined }) {
    super(
      `The position ${JSON.stringify(info.token)} on durable channel ${JSON.stringify(info.channel)}${info.group === undefined ? '' : ` (consumer group ${JSON.stringify(info.group)})`} is older than the log's retention: messages after it were dropped. ${info.group === undefined ? "Resume from 'earliest'" : `Move the group with log.moveGroup(${JSON.stringify(info.channel)}, ${JSON.stringify(info.group)}, 'earliest')`} (and rebuild what depends on the lost messages), or keep messages longer (retention.maxAge / maxBytes).`,
    )
  }
}

/** A value that has no JSON form (`undefined`, a function, a `BigInt`, a cycle): nothing was appended. */
export class InvalidDurableValueError extends RxpgError {
  override readonly name = 'InvalidDurableValueError'
  readonly code = 'DURABLE_INVALID_VALUE'
  constructor(readonly info: { readonly channel: string; readonly detail: string }, options?: { cause?: unknown }) {
    super(`Nothing was appended to durable channel ${JSON.stringify(info.channel)}: ${info.detail}.`, options)
  }
}

/** Facts about a failed statement, shared by the errors below. */
export interface QueryFailureInfo {
  readonly sqlState?: string | undefined
  readonly systemCode?: string | undefined
  readonly detail: string
}

/**
 * An append that did not commit. `outcome: 'not-sent'`: PostgreSQL refused it, nothing was written.
 * `'unknown'`: the connection broke while the statement was in flight, so it may or may not have committed
 * (rxpg does not resend: readers would see it twice). Read the channel to find out.
 */
export class AppendFailedError extends RxpgError {
  override readonly name = 'AppendFailedError'
  readonly code = 'DURABLE_APPEND_FAILED'
  constructor(
    readonly info: QueryFailureInfo & { readonly channel: string; readonly outcome: 'not-sent' | 'unknown' },
    options?: { cause?: unknown },
  ) {
    super(
      `Append to durable channel ${JSON.stringify(info.channel)} ${info.outcome === 'not-sent' ? 'was not written' : 'may or may not have committed (the connection broke while it was in flight)'}: ${info.detail}${privilegeHint(info)}`,
      options,
    )
  }
}

/** The fix of a privilege the role lacks (42501): the grants the docs list, and who maintains. */
function privilegeHint(info: QueryFailureInfo): string {
  return info.sqlState === '42501'
    ? '. The role lacks a privilege on the log: grant what "Roles and grants" in docs/durable.md lists (maintenance, which creates and drops partitions, is the owner\'s)'
    : ''
}

/** A read, fetch, lease or maintenance statement PostgreSQL refused for a reason retrying cannot fix. */
export class DurableQueryFailedError extends RxpgError {
  override readonly name = 'DurableQueryFailedError'
  readonly code = 'DURABLE_QUERY_FAILED'
  constructor(readonly info: QueryFailureInfo & { readonly operation: string }, options?: { cause?: unknown }) {
    super(`Durable log ${info.operation} failed: ${info.detail}${info.sqlState ? ` (SQLSTATE ${info.sqlState})` : ''}${privilegeHint(info)}`, options)
  }
}

/**
 * A consumer tried to commit a batch for partitions it no longer owns: its lease expired (it was too slow, or
 * paused) and another consumer took them over (a newer generation), or the group was moved (`moveGroup`). The batch's transaction was rolled back,
 * handler writes included, so the other consumer's work is not doubled; the messages are processed by the
 * partitions' new owner.
 */
export class StaleAckError extends RxpgError {
  override readonly name = 'StaleAckError'
  readonly code = 'DURABLE_STALE_ACK'
  constructor(
    readonly info: {
      readonly channel: string
      readonly group: string
      readonly member: string
      /** The partitions whose lease this consumer had lost, with the generation it held. */
      readonly lost: ReadonlyArray<{ readonly partition: number; readonly generation: string }>
    },
    /** `cause`: what the handler threw (or the error its transaction was aborted by), when it failed after the lease was lost. */
    options?: { readonly cause?: unknown },
  ) {
    super(
      `Consumer ${info.member} of group ${JSON.stringify(info.group)} on durable channel ${JSON.stringify(info.channel)} lost its lease on partition(s) ${info.lost.map((l) => l.partition).join(', ')} before committing; the batch was rolled back (nothing applied) and the new owner processes it.${options?.cause === undefined ? '' : ' Its handler failed meanwhile (the cause), as it may on effects the new owner has applied already.'} A lease is lost when the group was moved (log.moveGroup, rxpg group move: expected, nothing to fix), or when the member's process stopped answering for longer than leaseTtl (renewals go on while a handler works: paused or frozen, its event loop blocked, cut off from the database); then raise leaseTtl above the longest such pause.`,
      options,
    )
  }
}

/**
 * A consumer's handler ended the transaction rxpg handed it (a `COMMIT` or `ROLLBACK` on its client): its writes
 * and the group's cursor no longer commit together, and rxpg cannot tell whether the batch took effect. The
 * consumer stops without acknowledging the batch, so it comes again (at least once: its effects twice, if the
 * handler committed them). A programming error: the handler must leave the transaction open.
 */
export class HandlerEndedTransactionError extends RxpgError {
  override readonly name = 'HandlerEndedTransactionError'
  readonly code = 'DURABLE_HANDLER_ENDED_TRANSACTION'
  constructor(
    readonly info: {
      readonly channel: string
      readonly group: string
      readonly member: string
      /** The batch's first and last message's tokens. */
      readonly firstToken: string
      readonly lastToken: string
    },
  ) {
    super(
      `The handler of consumer group ${JSON.stringify(info.group)} on durable channel ${JSON.stringify(info.channel)} ended the transaction it was given (a COMMIT or ROLLBACK on its client), so its writes and the group's cursor no longer commit together. The consumer stopped without acknowledging the batch (${info.firstToken} to ${info.lastToken}); it comes again, and writes the handler committed are applied again. Leave the transaction open: throw to roll the batch back, and use SAVEPOINT / ROLLBACK TO SAVEPOINT to undo part of it.`,
    )
  }
}

/** The log was closed before (or while) the operation could complete. */
export class DurableLogClosedError extends RxpgError {
  override readonly name = 'DurableLogClosedError'
  readonly code = 'DURABLE_LOG_CLOSED'
  constructor(readonly info: { readonly operation: string }) {
    super(`The durable log is closed: ${info.operation} cannot complete.`)
  }
}

/** A schema name as one shell word (single-quoted unless it is plainly safe). */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}
