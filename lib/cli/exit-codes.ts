/**
 * The exit codes of `rxpg`, the same for every command, so that scripts can tell what went wrong (listed in
 * docs/cli.md), and the error → code mapping.
 */
import { CommanderError } from 'commander'
import { ConnectionRejectedError, InvalidChannelNameError, InvalidPayloadError, NotifyFailedError, PayloadTooLargeError, RxpgError } from '../index.js'
import { InvalidTokenError } from '../durable/index.js'
import { InvalidChangeFeedError } from '../changes/index.js'

export const EXIT = {
  /** Done; for the commands that run until stopped (listen, tail, changes), stopped by Ctrl-C (SIGINT) or SIGTERM. */
  ok: 0,
  /** The operation failed: the server refused it, or what it needs is not there (a feed not installed, an expired token). */
  failed: 1,
  /** Usage: an unknown command or option, a missing argument or database, an invalid value. Nothing was done. */
  usage: 2,
  /** No usable connection: the server refused it for good (password, database, role), could not be reached, or the connection broke. */
  connection: 3,
} as const

/** A usage mistake found by a command itself (commander finds the others). */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** SQLSTATE classes and Node codes that mean "no usable connection". */
const CONNECTION_SQLSTATE = /^(08|28|3D|57P0)/
// ENOENT: a socket path with no server behind it.
const CONNECTION_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT'])
/** Node codes that mean the connection string itself cannot be used (a port out of range): found before connecting. */
const CONFIGURATION_SYSTEM_CODES = new Set(['ERR_INVALID_URL', 'ERR_SOCKET_BAD_PORT'])

export function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage
  if (error instanceof UsageError) return EXIT.usage
  // rxpg's own checks of arguments and options (a schema name, a limit): nothing was done.
  if (error instanceof RangeError && error.message.startsWith('rxpg:')) return EXIT.usage
  if (error instanceof InvalidChannelNameError || error instanceof InvalidPayloadError || error instanceof PayloadTooLargeError || error instanceof InvalidChangeFeedError) return EXIT.usage
  if (error instanceof InvalidTokenError && error.info.reason === 'malformed') return EXIT.usage
  // A connection string pg cannot use (a port out of range): a usage mistake, found before connecting.
  if (error instanceof ConnectionRejectedError) return error.info.reason === 'configuration' ? EXIT.usage : EXIT.connection
  // Not sent, and no word from the server: it waited for a connection that never came.
  if (error instanceof NotifyFailedError && error.info.outcome === 'not-sent' && error.info.sqlState === undefined) return EXIT.connection
  if (error instanceof RxpgError) {
    const { sqlState, systemCode, detail } = error.info as { sqlState?: unknown; systemCode?: unknown; detail?: unknown }
    if (typeof systemCode === 'string' && CONFIGURATION_SYSTEM_CODES.has(systemCode)) return EXIT.usage
    if ((typeof sqlState === 'string' && CONNECTION_SQLSTATE.test(sqlState)) || (typeof systemCode === 'string' && CONNECTION_SYSTEM_CODES.has(systemCode))) return EXIT.connection
    // pg reports a socket closed under it, a connection not opened within connectionTimeoutMillis and a
    // statement not answered within query_timeout (--timeout), without a code.
    if (sqlState === undefined && systemCode === undefined && typeof detail === 'string' && /^(Connection terminated|Query read timeout)/i.test(detail)) return EXIT.connection
  }
  return EXIT.failed
}
