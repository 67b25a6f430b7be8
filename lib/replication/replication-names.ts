import { ReplicationSetupError } from './errors.js'
import { readTableName } from './table-names.js'

/** What PostgreSQL accepts as a replication slot's name. */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/

/**
 * Refuses, at once, a slot, publication or table name that cannot be one (`invalid-name`), and a table name
 * that could mean two tables (table-names.ts): the stream, the set-up SQL and `ensureReplication` check the same
 * way, so no SQL is printed or run that would fail later or name another table.
 */
export function assertReplicationNames(slot: unknown, publication: unknown, tables: readonly unknown[] = []): void {
  const invalid = (detail: string) => new ReplicationSetupError({ reason: 'invalid-name', slot: String(slot), publication: String(publication), detail })
  if (typeof slot !== 'string' || !SLOT_NAME.test(slot)) throw invalid(`slot ${JSON.stringify(slot)} is not 1-63 lower-case letters, digits and underscores`)
  if (typeof publication !== 'string' || publication === '' || publication.includes('\0')) throw invalid(`publication ${JSON.stringify(publication)} is not a name`)
  for (const table of tables) {
    const read = readTableName(table)
    if ('problem' in read) throw invalid(read.problem)
  }
}
