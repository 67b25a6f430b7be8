import pg from 'pg'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { installChangeFeed, type ChangeFeedSpec, type ChangeSource } from '../../lib/changes/index.js'
import { adminQuery, eventually } from './database.js'
import { durableDatabaseUrl, uniqueSchema } from './durable.js'

/**
 * Change-feed specs run on the durable server (global-setup.ts): durable feeds read below the snapshot
 * horizon, which another spec's open transaction would hold back. Each spec file gets a schema of its own for
 * its tables and its durable log, so files never see each other's changes.
 */
export interface ChangesFixture {
  readonly url: string
  readonly schema: string
  readonly pool: pg.Pool
  readonly listener: PgListener
  readonly log: DurableLog
  /** `{ listener, pool, log }`: what tableChanges reads from. */
  readonly source: ChangeSource
  /** `"schema"."name"`: a table of this fixture. */
  table(name: string): string
  /** Runs statements on the fixture's pool. */
  sql<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]>
  /** Installs a feed on a table of this fixture (`table` is its bare name), with this fixture's durable log. */
  install(spec: ChangeFeedSpec): Promise<ChangeFeedSpec>
  close(): Promise<void>
}

export async function changesFixture(prefix: string): Promise<ChangesFixture> {
  const url = durableDatabaseUrl()
  const schema = uniqueSchema(prefix)
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  pool.on('error', () => undefined)
  const listener = createPgListener(url)
  // No retention: what a spec writes stays until the schema is dropped (a spec checks that readers drop nothing).
  const log = createDurableLog({ listener, pool, schema, retention: { maxAge: null } })
  await log.ensureSchema()
  const table = (name: string) => `"${schema}"."${name.replaceAll('"', '""')}"`
  return {
    url,
    schema,
    pool,
    listener,
    log,
    source: { listener, pool, log },
    table,
    sql: async (text, values = []) => (await pool.query(text, values)).rows,
    install: async (spec) => {
      const full: ChangeFeedSpec = { ...spec, table: table(spec.table), ...((spec.carrier ?? 'durable') === 'durable' ? { logSchema: schema } : {}) }
      await installChangeFeed(pool, full)
      return full
    },
    async close() {
      await log.close()
      await listener.close()
      await pool.end()
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], url).catch(() => undefined)
    },
  }
}

/** Waits until `collected` holds `count` values (a bound on waiting, not a timing assertion). */
export async function received<T>(collected: { readonly values: readonly T[]; readonly errors: readonly unknown[] }, count: number, limitMs = 20_000): Promise<T[]> {
  await eventually(
    () => collected.values.length >= count || collected.errors.length > 0,
    () => `received ${collected.values.length} of ${count}`,
    limitMs,
  )
  if (collected.errors.length > 0) throw collected.errors[0]
  return [...collected.values]
}
