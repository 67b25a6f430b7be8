import { ConnectionLostError, ConnectionRejectedError, type ConnectionRejectedReason } from '../errors.js'
import type { Secrets } from './secrets.js'

/**
 * SQLSTATEs a retry cannot fix. 28P01 invalid_password, 28000 invalid_authorization_specification (no such
 * role, pg_hba.conf rejects), 3D000 invalid_catalog_name (no such database), 42501 insufficient_privilege
 * (no CONNECT privilege).
 */
const permanentSqlStates: Record<string, (message: string) => ConnectionRejectedReason> = {
  '28P01': () => 'authentication-failed',
  '28000': (message) => (/role .* does not exist/.test(message) ? 'role-missing' : 'not-authorized'),
  '3D000': () => 'database-missing',
  '42501': () => 'not-authorized',
}

/** Driver errors about the configuration itself (no SQLSTATE), e.g. SCRAM needing a password that is missing. */
const configurationMessages = [/client password must be a string/i, /SASL/, /self[- ]signed certificate/i, /does not support SSL/i]

interface ErrorLike {
  readonly message?: unknown
  readonly code?: unknown
}

/** Sorts a connection failure into "give up and say why" or "retry", with secrets removed from every message. */
export function classifyConnectionError(
  error: unknown,
  secrets: Secrets,
): ConnectionRejectedError | ConnectionLostError {
  // rxpg's own errors (time-outs, health-check findings) are already classified and redacted.
  if (error instanceof ConnectionLostError || error instanceof ConnectionRejectedError) return error
  const { message, code } = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as ErrorLike
  const detail = secrets.redact(typeof message === 'string' && message !== '' ? message : String(error))
  const errorCode = typeof code === 'string' ? code : undefined
  const permanent = errorCode === undefined ? undefined : permanentSqlStates[errorCode]
  if (permanent) {
    return new ConnectionRejectedError({ reason: permanent(detail), sqlState: errorCode, ...secrets.target, serverMessage: detail })
  }
  if (errorCode === undefined && configurationMessages.some((pattern) => pattern.test(detail))) {
    return new ConnectionRejectedError({ reason: 'configuration', ...secrets.target, serverMessage: detail })
  }
  return new ConnectionLostError({ ...(errorCode === undefined ? {} : { errorCode }), detail })
}
