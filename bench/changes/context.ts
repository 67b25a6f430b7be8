/**
 * What every change-feed benchmark shares: the table writers write to, the trigger variants compared (none,
 * the usual per-row NOTIFY of `row_to_json(NEW)`, and rxpg's feeds), and installing one of them on a fresh
 * table of its own, with a durable log beside it.
 */
import pg from 'pg'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog } from '../../lib/durable/index.js'
import { changeFeedSql, type ChangeFeedSpec } from '../../lib/changes/index.js'
import { dropSchema, freshSchema, query, type DurableBenchContext, type DurableSection } from '../durable/context.js'

export type ChangesBenchContext = DurableBenchContext
export type ChangesSection = DurableSection

/**
 * The trigger setups compared, in the order they are reported. The hand-written log-table trigger (the row as
 * JSON into a table of its own, bigserial key) is the reference for what a durable carrier costs at least.
 */
export const VARIANTS = [
  'no trigger',
  'per-row NOTIFY of row_to_json(NEW)',
  'hand-written log-table trigger',
  'rxpg durable (statement-level)',
  'rxpg durable (row-level)',
  'rxpg light',
] as const
export type Variant = (typeof VARIANTS)[number]

/** The columns of every benchmark table: a ~250-byte order row; `sent_at` carries the writer's clock for latency. */
export const ORDER_COLUMNS = 'id bigserial PRIMARY KEY, customer int NOT NULL, status text NOT NULL, total numeric(12, 2) NOT NULL, note text NOT NULL, sent_at double precision'
export const NOTE = 'n'.repeat(200)

const SPECS: Partial<Record<Variant, Partial<ChangeFeedSpec>>> = {
  'rxpg durable (statement-level)': { level: 'statement' },
  'rxpg durable (row-level)': { level: 'row' },
  'rxpg light': { carrier: 'light' },
}

export interface BenchTables {
  readonly schema: string
  /** The quoted table of each variant, its trigger installed. */
  readonly tables: Readonly<Record<Variant, string>>
  /** The feed spec of each rxpg variant (for readers). */
  readonly specs: Readonly<Partial<Record<Variant, ChangeFeedSpec>>>
  /** Empties every table and the durable log, so each measurement starts from the same state. */
  reset(): Promise<void>
  close(): Promise<void>
}

/** A schema with a durable log and one table per variant (`orders_0` …), each with its trigger. */
export async function benchTables(context: ChangesBenchContext, variants: readonly Variant[] = VARIANTS): Promise<BenchTables> {
  const schema = freshSchema('changes')
  const listener = createPgListener(context.url)
  const log = createDurableLog({ listener, pool: context.url, schema, stall: false })
  await log.ensureSchema()
  await log.close()
  await listener.close()
  const tables = {} as Record<Variant, string>
  const logTables: string[] = []
  const specs: Partial<Record<Variant, ChangeFeedSpec>> = {}
  for (const [index, variant] of variants.entries()) {
    const table = `"${schema}".orders_${index}`
    tables[variant] = table
    await query(context.url, `CREATE TABLE ${table} (${ORDER_COLUMNS})`)
    if (variant === 'per-row NOTIFY of row_to_json(NEW)') {
      await query(
        context.url,
        `CREATE FUNCTION "${schema}".notify_${index}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('orders_${index}', row_to_json(NEW)::text); RETURN NULL; END $$;
         CREATE TRIGGER notify AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".notify_${index}()`,
      )
    }
    if (variant === 'hand-written log-table trigger') {
      await query(
        context.url,
        `CREATE TABLE "${schema}".log_${index} (id bigserial PRIMARY KEY, payload json NOT NULL);
         CREATE FUNCTION "${schema}".log_${index}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO "${schema}".log_${index} (payload) VALUES (row_to_json(NEW)); RETURN NULL; END $$;
         CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".log_${index}()`,
      )
      logTables.push(`"${schema}".log_${index}`)
    }
    const extra = SPECS[variant]
    if (extra !== undefined) {
      const spec: ChangeFeedSpec = { table, key: ['id'], ...(extra.carrier === 'light' ? {} : { logSchema: schema }), ...extra }
      specs[variant] = spec
      await query(context.url, changeFeedSql(spec).install)
    }
  }
  return {
    schema,
    tables,
    specs,
    reset: () => query(context.url, `TRUNCATE ${[...Object.values(tables), ...logTables].join(', ')}, "${schema}".durable_log`).then(() => undefined),
    close: () => dropSchema(context.url, schema),
  }
}

/** `count` connected clients, ended by `end()`. */
export async function clients(url: string, count: number): Promise<{ readonly all: pg.Client[]; end(): Promise<void> }> {
  const all = await Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
  )
  return { all, end: () => Promise.all(all.map((client) => client.end())).then(() => undefined) }
}

/** A one-row INSERT of an order, as a named prepared statement (parsed and planned once per connection, for every variant alike). */
export function insertOne(table: string, writer: number): pg.QueryConfig {
  return { name: `insert_${table.replace(/\W/g, '_')}`, text: `INSERT INTO ${table} (customer, status, total, note) VALUES ($1, 'placed', 12.50, $2)`, values: [writer, NOTE] }
}
