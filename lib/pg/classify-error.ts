import { ConnectionLostError, ConnectionRejectedError, type ConnectionRejectedReason, type DriverFacts } from '../errors.js'
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
 * 99999 makes `new URL` fail), a port out of range, an option of the wrong type; and a server certificate that
 * TLS refused (OpenSSL's verification codes, as Node sets them: self-signed, an unknown issuer, expired, another
 * host's), which the next attempt would refuse the same way.
 */
const configurationSystemCodes = new Set([
  'ERR_INVALID_URL',
  'ERR_SOCKET_BAD_PORT',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_OUT_OF_RANGE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * Driver errors about the configuration itself (no code), e.g. SCRAM needing a password that is missing, and a
 * `notify.pool` the application ended (pg-pool can never be used again: the listener would reconnect for ever).
 */
const POOL_ENDED = /Cannot use a pool after calling end on the pool/
const configurationMessages = [/client password must be a string/i, /SASL/, /self[- ]signed certificate/i, /does not support SSL/i, POOL_ENDED]

/**
 * Sorts a connection failure into "give up and say why" or "retry", with secrets removed from every message.
 * The verdict is made on what the driver said, before redaction: a password that is also a word of the message
 * ('SSL', a role's name) is hidden from what is shown, and must not change what the listener does.
 */
export function classifyConnectionError(error: unknown, secrets: Secrets): ConnectionRejectedError | ConnectionLostError {
  // rxpg's own errors (time-outs, health-check findings) are already classified and redacted.
  if (error instanceof ConnectionLostError || error instanceof ConnectionRejectedError) return error
  const said = driverFacts(error, (text) => text)
  const facts = { ...said, detail: shownDetail(said, secrets) }
  const cause = redactedCause(error, secrets.redact)
  const permanent = said.sqlState === undefined ? undefined : permanentSqlStates[said.sqlState]
  if (permanent) return new ConnectionRejectedError({ reason: permanent(said.detail), ...secrets.target, ...facts }, { cause })
  const refusedSetting = said.sqlState === undefined ? undefined : settingRefusals[said.sqlState]
  const configuration =
    said.systemCode !== undefined
      ? configurationSystemCodes.has(said.systemCode)
      : refusedSetting !== undefined
        ? refusedSetting.test(said.detail)
        : said.sqlState === undefined && configurationMessages.some((pattern) => pattern.test(said.detail))
  if (configuration) return new ConnectionRejectedError({ reason: 'configuration', ...secrets.target, ...facts }, { cause })
  return new ConnectionLostError(facts, { cause })
}

/**
 * The detail to show: the message, redacted; for a connection string pg could not parse (its message is only
 * "Invalid URL"), what could not be parsed.
 */
function shownDetail(said: DriverFacts, secrets: Secrets): string {
  if (said.systemCode === 'ERR_INVALID_URL') return secrets.unparsable()
  if (POOL_ENDED.test(said.detail)) return `${said.detail} (the pg.Pool given as notify.pool was ended while the listener still used it: close the listener first)`
  return secrets.redact(said.detail)
}
