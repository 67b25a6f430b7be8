/**
 * Setting up what a change stream reads: a publication (which tables) and a permanent logical slot (where
 * the stream is). In production, as SQL text in a migration (`replicationSetupSql`); in development and
 * tests, `ensureReplication` does it on the spot, and `dropReplication` undoes it.
 */
import type pg from 'pg'
import type { PgConnectionConfig } from '../pg/config.js'
import { ReplicationSetupError, ResumeImpossibleError } from './errors.js'
import { assertReplicationNames } from './replication-names.js'
import { MIN_SERVER_VERSION, PARTITION_ROOT_SERVER_VERSION, versionText } from './start-plan.js'
import { quoteLiteral } from '../identifiers.js'
import { quoteName } from './sql-text.js'
import { parseTableName, quotedTableName, tableNameText, type TableName } from './table-names.js'
import { withClient } from './with-client.js'

export interface ReplicationSetup {
  readonly slot: string
  readonly publication: string
  /**
   * The tables to publish (`orders` is `public.orders`; `"a.b".c` a name holding a dot, double-quoted as in SQL),
   * or `'all'` for every table (needs a superuser).
   */
  readonly tables: readonly string[] | 'all'
}

/**
 * The statements that create the publication and the permanent slot, for a migration. The slot must be
 * created after the publication and before the first change you want: it streams what commits after it exists.
 * They cannot share a transaction (PostgreSQL creates no logical slot in a transaction that has written), so
 * the text says to run them one after the other, outside a transaction block. The publication has
 * `publish_via_partition_root = true` (PostgreSQL 13+), so a partitioned table's changes are named after it;
 * the text says to leave the WITH clause out on PostgreSQL 12, which has no such setting.
 */
export function replicationSetupSql(setup: ReplicationSetup): string {
  assertReplicationNames(setup.slot, setup.publication, setup.tables === 'all' ? [] : setup.tables)
  return [
    '-- Needs wal_level = logical (ALTER SYSTEM SET wal_level = logical; then restart), and a role with REPLICATION',
    '-- for the stream. Cap what a stopped consumer can pin: ALTER SYSTEM SET max_slot_wal_keep_size = \'10GB\' (PostgreSQL 13+).',
    '-- Each published table needs a replica identity (a primary key, or REPLICA IDENTITY FULL or USING INDEX): without one,',
    '-- PostgreSQL refuses every UPDATE and DELETE on it once it is published (error 55000).',
    '-- Run these two statements one after the other, outside a transaction block: PostgreSQL creates no logical slot in',
    '-- a transaction that has written (error 25001). Send each on its own: sent together in one query string (pg\'s',
    '-- client.query, knex.raw, pgm.sql), they run as one transaction. In a migration tool, turn its transaction off for',
    '-- this migration, or make two migrations, the publication first (the slot must not be older than its publication).',
    '-- publish_via_partition_root names a partitioned table\'s changes after it, not after its partitions (PostgreSQL 13+);',
    '-- on PostgreSQL 12, which has no such setting and publishes no partitioned table, leave out the WITH clause.',
    `${createPublicationSql(setup, true)};`,
    `SELECT pg_create_logical_replication_slot(${quoteLiteral(setup.slot)}, 'pgoutput');`,
    '',
  ].join('\n')
}

function createPublicationSql(setup: ReplicationSetup, viaPartitionRoot: boolean): string {
  const tables = setup.tables === 'all' ? 'ALL TABLES' : `TABLE ${distinctTables(setup.tables).map(quotedTableName).join(', ')}`
  return `CREATE PUBLICATION ${quoteName(setup.publication)} FOR ${tables}${viaPartitionRoot ? ' WITH (publish_via_partition_root = true)' : ''}`
}

/** The tables `names` name, each once (`orders`, `public.orders` and `"public"."orders"` are one table). */
function distinctTables(names: readonly string[]): TableName[] {
  const byText = new Map<string, TableName>()
  for (const table of names.map(parseTableName)) byText.set(tableNameText(table), table)
  return [...byText.values()]
}

/** What `ensureReplication` found missing and created. */
export interface EnsuredReplication {
  readonly createdPublication: boolean
  /** Tables added to a publication that existed without them, named as `tables` names them (`public.orders`). */
  readonly addedTables: readonly string[]
  readonly createdSlot: boolean
}

/**
 * Creates the publication (or adds missing tables to it) and the slot, when missing: for development and
 * tests. A publication it creates on PostgreSQL 13+ has `publish_via_partition_root = true`. Fails with
 * `ReplicationSetupError` when the server cannot decode (`wal-level`), when a table to publish has no replica
 * identity (`replica-identity-missing`), or when it cannot stream a partitioned table of `tables` under its own
 * name (`partitioned-table-unsupported` on PostgreSQL 12, `publish-via-partition-root-off` for an existing
 * publication without that setting, which it leaves as it is); in each case it changes nothing. A slot that
 * exists but that PostgreSQL invalidated fails with `ResumeImpossibleError` (`slot-lost`).
 */
export async function ensureReplication(config: PgConnectionConfig, setup: ReplicationSetup): Promise<EnsuredReplication> {
  assertReplicationNames(setup.slot, setup.publication, setup.tables === 'all' ? [] : setup.tables)
  return withClient(config, async (client) => {
    const { slot, publication } = setup
    const server = (
      await client.query<{ wal_level: string; version: number }>(`SELECT current_setting('wal_level') AS wal_level, current_setting('server_version_num')::int AS version`)
    ).rows[0] as { wal_level: string; version: number }
    // Before anything is created: on an older server the slot would keep WAL for a stream that can never read it.
    if (server.version < MIN_SERVER_VERSION) {
      throw new ReplicationSetupError({ reason: 'server-version', slot, publication, detail: `server_version_num ${server.version}`, found: `PostgreSQL ${versionText(server.version)}` })
    }
    if (server.wal_level !== 'logical') {
      throw new ReplicationSetupError({ reason: 'wal-level', slot, publication, detail: `wal_level is ${server.wal_level}`, found: server.wal_level })
    }
    // The slot needs REPLICATION: checked before anything is created, so that a role without it does not leave a
    // publication behind.
    const role = (await client.query<{ name: string; may: boolean }>(`SELECT current_user AS name, rolreplication OR rolsuper AS may FROM pg_roles WHERE rolname = current_user`)).rows[0]
    if (role !== undefined && !role.may) {
      throw new ReplicationSetupError({ reason: 'replication-privilege', slot, publication, detail: `role ${JSON.stringify(role.name)} has no REPLICATION attribute` })
    }
    const requested = setup.tables === 'all' ? [] : distinctTables(setup.tables)
    // Each requested table's kind, in one look-up: 'r' a table, 'p' a partitioned one, null not there. Checked
    // before anything is created: a missing table would fail the CREATE or ALTER PUBLICATION half-way. By schema
    // and name apart: "a.b"."c" and "a"."b.c" are both a.b.c as `schema || '.' || name`.
    const kinds = (
      await client.query<{ kind: string | null }>(
        `SELECT (SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = t.schema AND c.relname = t.name AND c.relkind IN ('r', 'p')) AS kind
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(schema, name, i) ORDER BY t.i`,
        [requested.map((table) => table.schema), requested.map((table) => table.table)],
      )
    ).rows.map((row, i) => ({ name: tableNameText(requested[i] as TableName), kind: row.kind }))
    const missing = kinds.find((table) => table.kind === null)
    if (missing !== undefined) {
      throw new ReplicationSetupError({ reason: 'table-missing', slot, publication, table: missing.name, detail: `no table ${missing.name} exists` })
    }
    const firstPartitioned = kinds.find((table) => table.kind === 'p')?.name
    const modern = server.version >= PARTITION_ROOT_SERVER_VERSION
    if (firstPartitioned !== undefined && !modern) {
      throw new ReplicationSetupError({
        reason: 'partitioned-table-unsupported',
        slot,
        publication,
        table: firstPartitioned,
        detail: `${firstPartitioned} is a partitioned table`,
        found: `PostgreSQL ${versionText(server.version)}`,
      })
    }
    const existing = (
      await client.query<{ via_root: string | null }>(`SELECT to_jsonb(p) ->> 'pubviaroot' AS via_root FROM pg_publication p WHERE pubname = $1`, [publication])
    ).rows[0]
    // The tables asked for; for 'all', every table, when the publication is created (one that exists already
    // publishes what it publishes).
    const keyless =
      setup.tables !== 'all'
        ? await tableWithoutReplicaIdentity(client, requested)
        : existing === undefined
          ? await tableWithoutReplicaIdentity(client, 'all')
          : undefined
    if (keyless !== undefined) {
      throw new ReplicationSetupError({ reason: 'replica-identity-missing', slot, publication, table: keyless.name, detail: keyless.detail })
    }
    let addedTables: string[] = []
    if (existing === undefined) {
      await client.query(createPublicationSql(setup, modern)).catch(refusedAs('publication-privilege', setup))
    } else if (setup.tables !== 'all') {
      if (firstPartitioned !== undefined && existing.via_root !== 'true') {
        throw new ReplicationSetupError({
          reason: 'publish-via-partition-root-off',
          slot,
          publication,
          table: firstPartitioned,
          detail: `publication ${publication} has publish_via_partition_root = false`,
        })
      }
      // Members as pg_publication_tables lists them (the partitions of a partitioned table, unless published
      // via its root), and as the publication lists them itself.
      const members = await client.query<{ schema: string; name: string }>(
        `SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1
         UNION SELECT n.nspname, c.relname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
           JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1`,
        [publication],
      )
      const have = new Set(members.rows.map((row) => tableNameText({ schema: row.schema, table: row.name })))
      const adding = requested.filter((table) => !have.has(tableNameText(table)))
      addedTables = adding.map(tableNameText)
      if (adding.length > 0) {
        await client
          .query(`ALTER PUBLICATION ${quoteName(publication)} ADD TABLE ${adding.map(quotedTableName).join(', ')}`)
          .catch(refusedAs('publication-privilege', setup))
      }
    }
    const existingSlot = (
      await client.query<{ wal_status: string | null }>(`SELECT to_jsonb(s) ->> 'wal_status' AS wal_status FROM pg_replication_slots s WHERE slot_name = $1`, [slot])
    ).rows[0]
    // Not "nothing to create": a slot PostgreSQL invalidated streams nothing again, and re-creating it on its own
    // would skip what it lost.
    if (existingSlot?.wal_status === 'lost') {
      throw new ResumeImpossibleError({ reason: 'slot-lost', slot, detail: 'pg_replication_slots.wal_status is lost' })
    }
    const slotExists = existingSlot !== undefined
    if (!slotExists) {
      try {
        await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot])
      } catch (error) {
        // What this call created goes with it: the set-up is all there or as it was.
        if (existing === undefined) await client.query(`DROP PUBLICATION IF EXISTS ${quoteName(publication)}`).catch(() => undefined)
        throw error
      }
    }
    return { createdPublication: existing === undefined, addedTables, createdSlot: !slotExists }
  })
}

/**
 * The first table (a partition, for a partitioned table) among `tables` (or among every table a FOR ALL TABLES
 * publication covers) that has no replica identity: no primary key under REPLICA IDENTITY DEFAULT, or
 * NOTHING, or USING INDEX without its index. Once published, PostgreSQL refuses every UPDATE and DELETE on it.
 */
async function tableWithoutReplicaIdentity(client: pg.ClientBase, tables: readonly TableName[] | 'all'): Promise<{ readonly name: string; readonly detail: string } | undefined> {
  const rows = (
    await client.query<{ schema: string; name: string; setting: string; others: string }>(
      `WITH candidate AS (
         SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE $1::boolean
           AND c.relkind = 'r' AND c.relpersistence = 'p'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
         UNION ALL
         SELECT tree.relid FROM unnest($2::text[], $3::text[]) AS t(schema, name)
           JOIN pg_namespace n ON n.nspname = t.schema
           JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name AND c.relkind IN ('r', 'p')
           -- A partitioned table's partitions (pg_partition_tree lists nothing for a table that has none).
           CROSS JOIN LATERAL (SELECT c.oid AS relid WHERE c.relkind = 'r'
             UNION ALL SELECT relid FROM pg_partition_tree(c.oid) WHERE c.relkind = 'p' AND isleaf) AS tree
       ), keyless AS (
         SELECT n.nspname AS schema, c.relname AS name,
                CASE c.relreplident WHEN 'd' THEN 'DEFAULT' WHEN 'n' THEN 'NOTHING' ELSE 'USING INDEX' END AS setting
         FROM candidate JOIN pg_class c ON c.oid = candidate.oid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relreplident <> 'f' AND NOT EXISTS (
           SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END
         )
       )
       SELECT schema, name, setting, (count(*) OVER () - 1)::text AS others FROM keyless ORDER BY schema, name LIMIT 1`,
      [tables === 'all', tables === 'all' ? [] : tables.map((table) => table.schema), tables === 'all' ? [] : tables.map((table) => table.table)],
    )
  ).rows
  const [first] = rows
  if (first === undefined) return undefined
  const name = tableNameText({ schema: first.schema, table: first.name })
  const others = first.others === '0' ? '' : ` (and ${first.others} other table${first.others === '1' ? '' : 's'})`
  return { name, detail: `${name}${others} has REPLICA IDENTITY ${first.setting} and ${first.setting === 'DEFAULT' ? 'no primary key' : 'no identity index'}` }
}

/** A statement the role may not run (42501), as the typed error of `reason`, which names who may; others as they are. */
function refusedAs(reason: 'replication-privilege' | 'publication-privilege', names: { readonly slot: string; readonly publication?: string | undefined }) {
  return (error: unknown): never => {
    if ((error as { code?: unknown }).code !== '42501') throw error
    throw new ReplicationSetupError({ reason, slot: names.slot, publication: names.publication ?? '', sqlState: '42501', detail: (error as Error).message }, { cause: error })
  }
}

/**
 * Drops the slot (ending the process that reads it, if any) and, when given, the publication: the slot no
 * longer pins WAL. For development and tests. A role that may not: `ReplicationSetupError`
 * (`replication-privilege` for the slot, `publication-privilege` for the publication).
 */
export async function dropReplication(config: PgConnectionConfig, names: { readonly slot: string; readonly publication?: string | undefined }): Promise<void> {
  await withClient(config, async (client) => {
    // What the role may drop is checked first, so that a refusal leaves both as they were (not the slot, the
    // stream's position, gone and the publication left).
    const [may] = (
      await client.query<{ replication: boolean; publication: boolean | null; user: string }>(
        `SELECT current_user AS user,
           r.rolreplication OR r.rolsuper OR NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $2) AS replication,
           (SELECT r.rolsuper OR pg_has_role(current_user, p.pubowner, 'USAGE') FROM pg_publication p WHERE p.pubname = $1) AS publication
         FROM pg_roles r WHERE r.rolname = current_user`,
        [names.publication ?? null, names.slot],
      )
    ).rows
    if (may !== undefined && !may.replication) {
      throw new ReplicationSetupError({ reason: 'replication-privilege', slot: names.slot, publication: names.publication ?? '', detail: `role ${JSON.stringify(may.user)} has no REPLICATION attribute` })
    }
    if (may !== undefined && may.publication === false) {
      throw new ReplicationSetupError({ reason: 'publication-privilege', slot: names.slot, publication: names.publication ?? '', detail: `role ${JSON.stringify(may.user)} does not own publication ${JSON.stringify(names.publication)}` })
    }
    await client.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, [names.slot]).catch(refusedAs('replication-privilege', names))
    // A terminated WAL sender releases its slot a moment later.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, [names.slot])
        break
      } catch (error) {
        if ((error as { code?: unknown }).code !== '55006' || attempt >= 50) refusedAs('replication-privilege', names)(error)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    if (names.publication !== undefined) await client.query(`DROP PUBLICATION IF EXISTS ${quoteName(names.publication)}`).catch(refusedAs('publication-privilege', names))
  })
}
