/**
 * @internal What the database says about a feed's table: the server version, whether the table exists, its
 * primary key and column types, and the feed's function (its comment holds the spec it was made from) and
 * triggers. Names are always parameters here; the table as a quoted SQL name goes through `to_regclass`.
 */
import type pg from 'pg'
import { failureInfo } from '../durable/pg-failure.js'
import { catalogTypes } from '../pg/catalog-types.js'
import { ChangesQueryFailedError } from './errors.js'
import type { ColumnForm } from './json-form.js'

/** A table's schema and name. */
export type TableName = readonly [schema: string, table: string]

export interface TableFacts {
  readonly serverVersionNum: number
  readonly tableExists: boolean
  /** The primary key's columns in order; null without one. */
  readonly primaryKey: readonly string[] | null
  /** The feed function's comment; undefined when there is no such function. */
  readonly functionComment: string | null | undefined
  /** The triggers on the table that call the feed function. */
  readonly triggers: ReadonlyArray<{ readonly name: string; readonly enabled: boolean; /** FOR EACH ROW (else FOR EACH STATEMENT). */ readonly row: boolean }>
  /** The tables the feed function's triggers are on (any table: the one it was installed on may since be renamed or moved). */
  readonly functionTables: readonly TableName[]
  /**
   * The other functions, in any schema, whose triggers are on the table and that have a comment: its feeds of other
   * names or schemas (a renamed table's, a moved table's), with the schema each is in.
   */
  readonly otherFeeds: ReadonlyArray<{ readonly schema: string; readonly comment: string }>
  /**
   * Where the table is in a partition or inheritance tree (undefined when it is in none): its parent (a partition's
   * partitioned table, or inheritance parents) and its inheritance children (the first few, and how many).
   */
  readonly tree: { readonly partition: boolean; readonly parents: readonly TableName[]; readonly children: readonly TableName[]; readonly childCount: number } | undefined
}

const FACTS = `SELECT current_setting('server_version_num')::int AS server_version,
  to_regclass($1) IS NOT NULL AS table_exists,
  (SELECT json_agg(a.attname::text ORDER BY k.n)
     FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = to_regclass($1) AND i.indisprimary) AS primary_key,
  f.found AS function_found, f.comment AS function_comment, coalesce(f.triggers, '[]') AS triggers,
  coalesce(f.tables, '[]') AS function_tables,
  (SELECT coalesce(json_agg(json_build_object('schema', o.nspname, 'comment', o.comment)), '[]')
     FROM (SELECT DISTINCT n2.nspname::text AS nspname, obj_description(p2.oid, 'pg_proc') AS comment
             FROM pg_trigger t2 JOIN pg_proc p2 ON p2.oid = t2.tgfoid JOIN pg_namespace n2 ON n2.oid = p2.pronamespace
            WHERE t2.tgrelid = to_regclass($1) AND NOT t2.tgisinternal AND NOT (n2.nspname = $2 AND p2.proname = $3)
              AND obj_description(p2.oid, 'pg_proc') IS NOT NULL) o) AS other_feeds,
  (SELECT json_build_object('partition', c.relispartition,
       'parents', (SELECT coalesce(json_agg(json_build_array(pn.nspname, pc.relname) ORDER BY i.inhseqno), '[]')
                     FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                    WHERE i.inhrelid = c.oid),
       'children', (SELECT coalesce(json_agg(json_build_array(k.nspname, k.relname)), '[]')
                      FROM (SELECT cn.nspname, cc.relname FROM pg_inherits i JOIN pg_class cc ON cc.oid = i.inhrelid
                              JOIN pg_namespace cn ON cn.oid = cc.relnamespace
                             WHERE i.inhparent = c.oid ORDER BY cn.nspname, cc.relname LIMIT 3) k),
       'childCount', (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid))
     FROM pg_class c
    WHERE c.oid = to_regclass($1) AND EXISTS (SELECT 1 FROM pg_inherits i WHERE c.oid IN (i.inhrelid, i.inhparent))) AS tree
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT true AS found, obj_description(p.oid, 'pg_proc') AS comment,
    (SELECT json_agg(json_build_object('name', t.tgname::text, 'enabled', t.tgenabled IN ('O', 'A'), 'row', (t.tgtype & 1) = 1))
       FROM pg_trigger t WHERE t.tgrelid = to_regclass($1) AND t.tgfoid = p.oid AND NOT t.tgisinternal) AS triggers,
    (SELECT json_agg(json_build_array(w.nspname, w.relname))
       FROM (SELECT DISTINCT tn.nspname::text AS nspname, tc.relname::text AS relname
               FROM pg_trigger t JOIN pg_class tc ON tc.oid = t.tgrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
              WHERE t.tgfoid = p.oid AND NOT t.tgisinternal) w) AS tables
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = $2 AND p.proname = $3 AND p.pronargs = 0
) f ON true`

/**
 * Each column's JSON form: bigint and numeric (through domains and arrays) are `exact`, bytea is `bytea`, json
 * and jsonb are `json`, every other type `plain`.
 */
const COLUMN_FORMS = `WITH RECURSIVE walk(name, type) AS (
  SELECT a.attname::text, a.atttypid FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT w.name, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END
  FROM walk w JOIN pg_type t ON t.oid = w.type
  WHERE t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1)
)
SELECT name, bool_or(type IN ('int8'::regtype, 'numeric'::regtype)) AS exact, bool_or(type = 'bytea'::regtype) AS bytea,
  bool_or(type IN ('json'::regtype, 'jsonb'::regtype)) AS json
FROM walk GROUP BY name`

/** Facts about `table` (a quoted SQL name) and the feed function `functionName` in `feedSchema`. */
export async function tableFacts(pool: pg.Pool | pg.ClientBase, table: string, feedSchema: string, functionName: string): Promise<TableFacts> {
  const [row] = await catalogQuery<{
    server_version: number
    table_exists: boolean
    primary_key: string[] | null
    function_found: boolean | null
    function_comment: string | null
    triggers: Array<{ name: string; enabled: boolean; row: boolean }>
    function_tables: Array<[string, string]>
    other_feeds: Array<{ schema: string; comment: string }>
    tree: { partition: boolean; parents: Array<[string, string]>; children: Array<[string, string]>; childCount: number | string } | null
  }>(pool, 'check', FACTS, [table, feedSchema, functionName])
  if (row === undefined) throw new Error('rxpg: the catalog query returned no row')
  return {
    serverVersionNum: row.server_version,
    tableExists: row.table_exists,
    primaryKey: row.primary_key,
    functionComment: row.function_found ? row.function_comment : undefined,
    triggers: row.triggers,
    functionTables: row.function_tables,
    otherFeeds: row.other_feeds,
    tree: row.tree === null ? undefined : { ...row.tree, childCount: Number(row.tree.childCount) },
  }
}

/** The JSON form of each column of `table` (a quoted SQL name). */
export async function columnForms(pool: pg.Pool | pg.ClientBase, table: string): Promise<Map<string, ColumnForm>> {
  const rows = await catalogQuery<{ name: string; exact: boolean; bytea: boolean; json: boolean }>(pool, 'column types', COLUMN_FORMS, [table])
  return new Map(rows.map((row) => [row.name, row.exact ? 'exact' : row.bytea ? 'bytea' : row.json ? 'json' : 'plain']))
}

export async function catalogQuery<Row extends pg.QueryResultRow>(pool: pg.Pool | pg.ClientBase, operation: string, text: string, values: unknown[]): Promise<Row[]> {
  try {
    // rxpg's own parsers for what it asked for, whatever the application set for the whole process.
    return (await pool.query<Row>({ text, values, types: catalogTypes })).rows
  } catch (error) {
    throw new ChangesQueryFailedError({ operation, ...failureInfo(error) }, { cause: error })
  }
}
