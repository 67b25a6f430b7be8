/**
 * What a failed pg call tells: the facts for an error's `info`, and whether a retry on a new connection can
 * succeed. Kept here, apart from the listener's classifier (lib/pg/classify-error.ts), whose verdicts are about
 * a listening session; the durable log asks another question: may this statement be retried.
 */
import { redactCredentials } from '../pg/secrets.js'
import type { QueryFailureInfo } from './errors.js'

/**
 * SQLSTATEs after which nothing of the statement's transaction committed and a new connection may work: the
 * server ended the session (57P01 pg_terminate_backend or a fast shutdown, 57P02 a crash elsewhere, 57P03
 * starting up, 25P03 idle_in_transaction_session_timeout, 57P05 idle_session_timeout; 08xxx are matched by
 * class), too many connections (53300), a serialization failure or deadlock (40001, 40P01), a lock not
 * available (55P03).
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '25P03', '57P05', '53300', '40001', '40P01', '55P03'])
/**
 * Statements the server refused (nothing of them applied, the connection fine) for a reason that passes: canceled
 * (57014: statement_timeout, pg_cancel_backend; a migration's lock held longer than the timeout), or written in a
 * read-only transaction (25006: default_transaction_read_only on the role, a standby after a failover). A retry may
 * succeed; they are still refusals (`isRefusal`): nothing was applied.
 */
const PASSING_REFUSALS = new Set(['57014', '25006'])
const TRANSIENT_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
/** SQLSTATEs that mean the durable schema (or one of its tables or functions) is not there. */
const SCHEMA_MISSING_SQLSTATES = new Set(['3F000', '42P01', '42883'])

/** The facts of a failure, with any password in a connection string removed. */
export function failureInfo(error: unknown): QueryFailureInfo {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown }
  const code = typeof fields.code === 'string' ? fields.code : undefined
  const message = typeof fields.message === 'string' ? fields.message : String(error)
  const detail = redactCredentials(message)
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return { sqlState: code, detail }
  if (code !== undefined) return { systemCode: code, detail }
  return { detail }
}

/** True when the connection broke, the server is restarting, or a refusal may pass: a retry on a new connection may succeed. */
export function isTransient(info: QueryFailureInfo): boolean {
  if (info.sqlState !== undefined) return info.sqlState.startsWith('08') || TRANSIENT_SQLSTATES.has(info.sqlState) || PASSING_REFUSALS.has(info.sqlState)
  if (info.systemCode !== undefined) return TRANSIENT_SYSTEM_CODES.has(info.systemCode)
  // pg reports a socket closed under it, and a statement its query_timeout gave up on, without a code; pg-pool
  // a wait for a connection past connectionTimeoutMillis (all of them busy, or the server slow to answer).
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error|Query read timeout|timeout exceeded when trying to connect/i.test(info.detail)
}

/** A serialization failure and a deadlock: the server rolled the transaction back, and the connection works. */
const ROLLED_BACK_SQLSTATES = new Set(['40001', '40P01'])

/**
 * True for a serialization failure (40001) or a deadlock (40P01): the server rolled the statement's transaction
 * back (nothing of it committed, the outcome is known) and the connection works; the same work may succeed again.
 */
export function isRolledBack(info: QueryFailureInfo): boolean {
  return info.sqlState !== undefined && ROLLED_BACK_SQLSTATES.has(info.sqlState)
}

/** True when the statement failed before anything was sent or applied (a refusal, not a broken connection). */
export function isRefusal(info: QueryFailureInfo): boolean {
  return info.sqlState !== undefined && !info.sqlState.startsWith('08') && !TRANSIENT_SQLSTATES.has(info.sqlState)
}

/**
 * True for a data exception (SQLSTATE class 22: 22P05 a character the database's encoding cannot hold, 22021
 * bytes invalid in it, 22P02 invalid input, 22001 a string too long, ...): the server refused a statement for
 * the data it was given, which says nothing about the connection, and nothing of the statement was applied.
 */
export function isDataException(info: QueryFailureInfo): boolean {
  return info.sqlState !== undefined && info.sqlState.startsWith('22')
}

export function isSchemaMissing(info: QueryFailureInfo): boolean {
  return info.sqlState !== undefined && SCHEMA_MISSING_SQLSTATES.has(info.sqlState)
}
