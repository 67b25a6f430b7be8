import { ReplicationSetupError } from './errors.js'

/** What PostgreSQL accepts as a replication slot's name. */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/

/**
 * Refuses, at once, a slot, publication or table name that cannot be one (`invalid-name`): the stream, the
 * set-up SQL and `ensureReplication` check the same way, so no SQL is printed or run that would fail later.
 */
export function assertReplicationNames(slot: unknown, publication: unknown, tables: readonly unknown[] = []): void {
  const invalid = (detail: string) => new ReplicationSetupError({ reason: 'invalid-name', slot: String(slot), publication: String(publication), detail })
  if (typeof slot !== 'string' || !SLOT_NAME.test(slot)) throw invalid(`slot ${JSON.stringify(slot)} is not 1-63 lower-case letters, digits and underscores`)
  if (typeof publication !== 'string' || publication === '' || publication.includes('\0')) throw invalid(`publication ${JSON.stringify(publication)} is not a name`)
  const badTable = tables.find((name) => typeof name !== 'string' || name === '' || name.includes('\0') || name.startsWith('.') || name.endsWith('.'))
  if (badTable !== undefined) throw invalid(`table ${JSON.stringify(badTable)} is not a name`)
  // rxpg/changes takes SQL identifiers ("Sales"."Orders"); here a name is schema.table as spelled, and quotes
  // would be taken for part of it (the table published would be named with them, then reported missing).
  const quoted = tables.find((name) => typeof name === 'string' && name.startsWith('"'))
  if (quoted !== undefined) throw invalid(`table ${JSON.stringify(quoted)} is quoted: write schema.table unquoted, spelled exactly (${String(quoted).replaceAll('"', '')})`)
}
