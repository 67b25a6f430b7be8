import { ConnectionLostError, ConnectionRejectedError, type ConnectionRejectedReason } from '../errors.js'
import { driverFacts, redactedCause } from './driver-error.js'
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

/**
 * SQLSTATEs of a startup setting the server refuses (the config's `options`, `-c name=value`): 42704 a setting
 * it does not know (`idle_session_timeout` before PostgreSQL 14, a typo), 22023 a value it cannot take, 55P02
 * one that cannot be set at connection start. Each is refused on every connection: a retry cannot fix it.
 */
const settingRefusals: Record<string, RegExp> = {
  '42704': /unrecognized configuration parameter/i,
  '22023': /invalid value for parameter/i,
  '55P02': /cannot be changed/i,
}

/**
 * Node's codes for a configuration that can never work: a connection string that is not a URL (a port of
 * 99999 makes `new URL` fail), a port out of range, an option of the wrong type.
 */
const configurationSystemCodes = new Set(['ERR_INVALID_URL', 'ERR_SOCKET_BAD_PORT', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'])

/** Driver errors about the configuration itself (no code), e.g. SCRAM needing a password that is missing. */
const configurationMessages = [/client password must be a string/i, /SASL/, /self[- ]signed certificate/i, /does not support SSL/i]

/** Sorts a connection failure into "give up and say why" or "retry", with secrets removed from every message. */
export function classifyConnectionError(error: unknown, secrets: Secrets): ConnectionRejectedError | ConnectionLostError {
  // rxpg's own errors (time-outs, health-check findings) are already classified and redacted.
  if (error instanceof ConnectionLostError || error instanceof ConnectionRejectedError) return error
  const facts = driverFacts(error, secrets.redact)
  const cause = redactedCause(error, secrets.redact)
  const permanent = facts.sqlState === undefined ? undefined : permanentSqlStates[facts.sqlState]
  if (permanent) return new ConnectionRejectedError({ reason: permanent(facts.detail), ...secrets.target, ...facts }, { cause })
  const refusedSetting = facts.sqlState === undefined ? undefined : settingRefusals[facts.sqlState]
  const configuration =
    facts.systemCode !== undefined
      ? configurationSystemCodes.has(facts.systemCode)
      : refusedSetting !== undefined
        ? refusedSetting.test(facts.detail)
        : facts.sqlState === undefined && configurationMessages.some((pattern) => pattern.test(facts.detail))
  if (configuration) return new ConnectionRejectedError({ reason: 'configuration', ...secrets.target, ...facts }, { cause })
  return new ConnectionLostError(facts, { cause })
}
