import { classifyConnectionError } from '../../pg/classify-error.js'
import { driverFacts, redactedCause } from '../../pg/driver-error.js'
import type { Secrets } from '../../pg/secrets.js'
import { ConnectionLostError, RxpgError } from '../../errors.js'
import { ReplicationSetupError, ResumeImpossibleError, SlotInUseError } from '../errors.js'
import type { ReplicationFailure } from '../types.js'

/**
 * Sorts a failure of the replication connection into "stop and say why" (a typed error) or "retry"
 * (`ConnectionLostError`), by SQLSTATE and the server's message. Secrets are removed from every text shown.
 *
 * - "unsupported startup parameter: replication": a pooler (PgBouncer) in front of the server, which proxies no
 *   replication connection.
 * - 42601 / 0A000: a replication command read as SQL (a proxy dropped the `replication` startup parameter) or one
 *   this server does not have; every connection gets the same answer.
 * - 42501 at connect: the role lacks REPLICATION (other 42501s are the listener's `not-authorized`).
 * - 53300 with max_wal_senders 0: no replication connection can ever be had (other 53300s are a full server:
 *   retried).
 * - 55006: the slot is active for another process.
 * - 42704: the slot or the publication does not exist.
 * - 55000 / 58P01: the slot was invalidated, or the WAL it needs was removed; or wal_level is not logical.
 */
export function classifyReplicationError(
  error: unknown,
  secrets: Secrets,
  names: { readonly slot: string; readonly publication: string },
): ReplicationFailure | ConnectionLostError {
  if (error instanceof RxpgError) return error as ReplicationFailure | ConnectionLostError
  // Decided on what the server said, shown redacted: a password that is also a word or a number of the message
  // (a PID) must not change the verdict or the facts read from it.
  const { sqlState, detail } = driverFacts(error, (text) => text)
  const facts = driverFacts(error, secrets.redact)
  const cause = redactedCause(error, secrets.redact)
  const setup = (reason: ReplicationSetupError['info']['reason']) => new ReplicationSetupError({ reason, ...names, ...facts }, { cause })
  // PgBouncer (any pool mode) refuses the startup parameter a replication connection needs: no retry helps.
  if (/unsupported startup parameter: replication/i.test(detail)) return setup('pooler')
  switch (sqlState) {
    case '42601':
    case '0A000':
      return setup('command-refused')
    case '42501':
      if (/walsender|WAL sender|replication/i.test(detail)) return setup('replication-privilege')
      break
    case '53300':
      if (/max_wal_senders \(currently 0\)/.test(detail)) return setup('max-wal-senders')
      break
    case '55006': {
      const pid = /PID (\d+)/.exec(detail)?.[1]
      return new SlotInUseError({ slot: names.slot, ...facts, ...(pid === undefined ? {} : { activePid: Number(pid) }) }, { cause })
    }
    case '42704':
      if (/replication slot/i.test(detail)) return setup('slot-missing')
      if (/publication/i.test(detail)) return setup('publication-missing')
      break
    case '55000':
      if (/wal_level/.test(detail)) return setup('wal-level')
      if (/invalidated|can no longer|has been removed/i.test(detail)) return new ResumeImpossibleError({ reason: 'slot-lost', slot: names.slot, ...facts }, { cause })
      break
    case '58P01':
      if (/has already been removed/.test(detail)) return new ResumeImpossibleError({ reason: 'slot-lost', slot: names.slot, ...facts }, { cause })
      break
  }
  return classifyConnectionError(error, secrets)
}
