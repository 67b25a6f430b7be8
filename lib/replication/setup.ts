/**
 * Setting up what a change stream reads: a publication (which tables) and a permanent logical slot (where
 * the stream is). In production, as SQL text in a migration (`replicationSetupSql`); in development and
 * tests, `ensureReplication` does it on the spot, and `dropReplication` undoes it.
 */
import type { PgConnectionConfig } from '../pg/config.js'
import { ReplicationSetupError } from './errors.js'
import { quoteLiteral, quoteName, quoteQualified, qualified } from './sql-text.js'
import { withClient } from './with-client.js'

export interface ReplicationSetup {
  readonly slot: string
  readonly publication: string
  /** The tables to publish (`orders` is `public.orders`), or `'all'` for every table (needs a superuser). */
  readonly tables: readonly string[] | 'all'
}

/**
 * The statements that create the publication and the permanent slot, for a migration. The slot must be
 * created after the publication and before the first change you want: it streams what commits after it exists.
 * They cannot share a transaction (PostgreSQL creates no logical slot in a transaction that has written), so
 * the text says to run them one after the other, outside a transaction block.
 */
export function replicationSetupSql(setup: ReplicationSetup): string {
  return [
    '-- Needs wal_level = logical (ALTER SYSTEM SET wal_level = logical; then restart), and a role with REPLICATION',
    '-- for the stream. Cap what a stopped consumer can pin: ALTER SYSTEM SET max_slot_wal_keep_size = \'10GB\' (PostgreSQL 13+).',
    '-- Run these two statements one after the other, outside a transaction block: PostgreSQL creates no logical slot in',
    '-- a transaction that has written (error 25001). In a migration tool, turn its transaction off for this migration,',
    '-- or make two migrations, the publication first (the slot must not be older than its publication).',
    `${createPublicationSql(setup)};`,
    `SELECT pg_create_logical_replication_slot(${quoteLiteral(setup.slot)}, 'pgoutput');`,
    '',
  ].join('\n')
}

function createPublicationSql(setup: ReplicationSetup): string {
  const tables = setup.tables === 'all' ? 'ALL TABLES' : `TABLE ${setup.tables.map(quoteQualified).join(', ')}`
  return `CREATE PUBLICATION ${quoteName(setup.publication)} FOR ${tables}`
}

/** What `ensureReplication` found missing and created. */
export interface EnsuredReplication {
  readonly createdPublication: boolean
  /** Tables added to a publication that existed without them. */
  readonly addedTables: readonly string[]
  readonly createdSlot: boolean
}

/**
 * Creates the publication (or adds missing tables to it) and the slot, when missing: for development and
 * tests. Fails with `ReplicationSetupError` (`wal-level`) when the server cannot decode.
 */
export async function ensureReplication(config: PgConnectionConfig, setup: ReplicationSetup): Promise<EnsuredReplication> {
  return withClient(config, async (client) => {
    const walLevel = (await client.query<{ wal_level: string }>(`SELECT current_setting('wal_level') AS wal_level`)).rows[0]?.wal_level ?? 'unknown'
    if (walLevel !== 'logical') {
      throw new ReplicationSetupError({ reason: 'wal-level', slot: setup.slot, publication: setup.publication, detail: `wal_level is ${walLevel}`, found: walLevel })
    }
    const published = await client.query<{ name: string }>(
      `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1`,
      [setup.publication],
    )
    const exists = (await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [setup.publication])).rowCount === 1
    let addedTables: string[] = []
    if (!exists) {
      await client.query(createPublicationSql(setup))
    } else if (setup.tables !== 'all') {
      const have = new Set(published.rows.map((row) => row.name))
      addedTables = setup.tables.map(qualified).filter((table) => !have.has(table))
      if (addedTables.length > 0) await client.query(`ALTER PUBLICATION ${quoteName(setup.publication)} ADD TABLE ${addedTables.map(quoteQualified).join(', ')}`)
    }
    const slotExists = (await client.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [setup.slot])).rowCount === 1
    if (!slotExists) await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [setup.slot])
    return { createdPublication: !exists, addedTables, createdSlot: !slotExists }
  })
}

/**
 * Drops the slot (ending the process that reads it, if any) and, when given, the publication: the slot no
 * longer pins WAL. For development and tests.
 */
export async function dropReplication(config: PgConnectionConfig, names: { readonly slot: string; readonly publication?: string }): Promise<void> {
  await withClient(config, async (client) => {
    await client.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, [names.slot])
    // A terminated WAL sender releases its slot a moment later.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [names.slot])
        break
      } catch (error) {
        if ((error as { code?: unknown }).code !== '55006' || attempt >= 50) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    if (names.publication !== undefined) await client.query(`DROP PUBLICATION IF EXISTS ${quoteName(names.publication)}`)
  })
}
