/**
 * What a change stream reads before it starts streaming: the server, the publication and the slot, in one round
 * trip on an ordinary connection (pg-replication-source.ts says why not on the replication one). Names and
 * types asked for are parameters.
 */
import type pg from 'pg'
import { catalogTypes } from '../../pg/catalog-types.js'
import { parseLsn, ZERO_LSN, type Lsn } from '../lsn.js'
import type { ServerFacts, SlotFacts } from '../ports.js'
import { parseTableName, tableNameText } from '../table-names.js'

/** Types with OIDs below this are built in (pgoutput sends a Type message for the others): never domains of the user. */
export const FIRST_NON_BUILTIN_TYPE_OID = 10000

/**
 * `tables`: the tables the stream asked for (named as in `tables`), of which the partitioned ones and those that
 * do not exist are named, and the OIDs of those that do. `typeOids`: column types to resolve besides those of
 * the published tables (types met since, by a Relation). $1 the publication, $2 and $5 the tables' schemas and
 * names, $3 the type OIDs, $4 the slot. Tables are compared by schema and name apart, never as
 * `schema || '.' || name`: "a.b"."c" and "a"."b.c" give the same text.
 */
export function serverFactsQuery(slot: string, publication: string, wanted: { readonly tables?: readonly string[] | undefined; readonly typeOids?: readonly number[] | undefined } = {}): pg.QueryConfig {
  const text = `SELECT current_setting('server_version_num')::int AS server_version,
  current_setting('wal_level') AS wal_level,
  current_database() AS database,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS current_lsn,
  EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS publication_exists,
  COALESCE((SELECT (to_jsonb(p) ->> 'pubviaroot')::boolean FROM pg_publication p WHERE p.pubname = $1), false) AS publish_via_root,
  (SELECT COALESCE(json_agg(json_build_array(schemaname, tablename)), '[]') FROM pg_publication_tables WHERE pubname = $1) AS published_tables,
  (SELECT COALESCE(json_agg(json_build_array(n.nspname, c.relname)), '[]') FROM unnest($2::text[], $5::text[]) AS t(schema, name)
    JOIN pg_namespace n ON n.nspname = t.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
    WHERE c.relkind = 'p') AS partitioned_tables,
  (SELECT COALESCE(json_agg(json_build_array(t.schema, t.name)), '[]') FROM unnest($2::text[], $5::text[]) AS t(schema, name)
    WHERE NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = t.schema AND c.relname = t.name AND c.relkind IN ('r', 'p'))) AS missing_tables,
  (SELECT COALESCE(json_agg(json_build_array(n.nspname, c.relname, c.oid::int8)), '[]') FROM unnest($2::text[], $5::text[]) AS t(schema, name)
    JOIN pg_namespace n ON n.nspname = t.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
    WHERE c.relkind IN ('r', 'p')) AS table_oids,
  (WITH RECURSIVE wanted(oid) AS (
      SELECT a.atttypid FROM pg_publication_tables pt
        JOIN pg_namespace n ON n.nspname = pt.schemaname
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE pt.pubname = $1 AND a.atttypid >= ${FIRST_NON_BUILTIN_TYPE_OID}
      UNION SELECT unnest($3::oid[])
    ), chain(oid, base) AS (
      SELECT oid, oid FROM wanted
      UNION ALL
      SELECT chain.oid, t.typbasetype FROM chain JOIN pg_type t ON t.oid = chain.base WHERE t.typtype = 'd'
    )
    SELECT COALESCE(json_agg(json_build_array(chain.oid::int8, chain.base::int8)), '[]') FROM chain JOIN pg_type t ON t.oid = chain.base WHERE t.typtype <> 'd'
  ) AS column_types,
  (SELECT to_jsonb(s) FROM pg_replication_slots s WHERE s.slot_name = $4) AS slot`
  // rxpg's own parsers (arrays come as json), whatever the application set for the whole process: a jsonb kept
  // as text made a good slot read as "not a pgoutput slot".
  const tables = (wanted.tables ?? []).map(parseTableName)
  return {
    text,
    values: [publication, tables.map((table) => table.schema), [...(wanted.typeOids ?? [])], slot, tables.map((table) => table.table)],
    types: catalogTypes,
  }
}

export interface ServerFactsRow {
  readonly server_version: number
  readonly wal_level: string
  readonly database: string
  readonly current_lsn: string
  readonly publication_exists: boolean
  readonly publish_via_root: boolean
  /** [schema, table] of each table pg_publication_tables lists for the publication. */
  readonly published_tables: Array<[string, string]>
  /** [schema, table] of the tables asked for that are partitioned. */
  readonly partitioned_tables: Array<[string, string]>
  /** [schema, table] of the tables asked for that do not exist (no table or partitioned table of that name). */
  readonly missing_tables: Array<[string, string]>
  /** [schema, table, oid] of the tables asked for that exist. */
  readonly table_oids: Array<[string, string, number]>
  /**
   * [type oid, the oid of the type its values are parsed as] for the non-built-in column types of the published
   * tables and those asked for: a domain's base type (through domains over domains), else the type itself.
   */
  readonly column_types: Array<[number, number]>
  /** The slot's row of pg_replication_slots as JSON: its columns differ between versions (wal_status is 13+). */
  readonly slot: Record<string, unknown> | null
}

export function serverFactsOf(row: ServerFactsRow, systemId: string): ServerFacts {
  const slot = row.slot === null ? undefined : slotFactsOf(row.slot)
  return {
    serverVersion: row.server_version,
    systemId,
    database: row.database,
    walLevel: row.wal_level,
    currentLsn: lsnOrZero(row.current_lsn),
    publicationExists: row.publication_exists,
    publishedTables: row.published_tables.map(named),
    publishViaPartitionRoot: row.publish_via_root,
    partitionedTables: row.partitioned_tables.map(named),
    missingTables: row.missing_tables.map(named),
    tableOids: Object.fromEntries(row.table_oids.map(([schema, table, oid]) => [named([schema, table]), oid])),
    ...(slot === undefined ? {} : { slot }),
  }
}

function named([schema, table]: [string, string]): string {
  return tableNameText({ schema, table })
}

function slotFactsOf(slot: Record<string, unknown>): SlotFacts {
  const text = (key: string) => (typeof slot[key] === 'string' ? (slot[key] as string) : null)
  const walStatus = text('wal_status')
  const invalidation = text('invalidation_reason')
  const lost = walStatus === 'lost' || invalidation !== null
  const confirmedFlush = text('confirmed_flush_lsn')
  const activePid = typeof slot.active_pid === 'number' ? slot.active_pid : undefined
  return {
    slotType: text('slot_type') ?? 'unknown',
    plugin: text('plugin'),
    database: text('database'),
    active: slot.active === true,
    ...(activePid === undefined ? {} : { activePid }),
    ...(confirmedFlush === null ? {} : { confirmedFlush: lsnOrZero(confirmedFlush) }),
    lost,
    ...(lost ? { lostDetail: [walStatus && `wal_status ${walStatus}`, invalidation && `invalidation_reason ${invalidation}`].filter(Boolean).join(', ') } : {}),
  }
}

function lsnOrZero(text: string | null): Lsn {
  return (text === null ? undefined : parseLsn(text)) ?? ZERO_LSN
}
