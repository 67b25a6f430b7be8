/**
 * `npm run example:changes`: a table's change feed, end to end. Starts an embedded PostgreSQL (or uses
 * DATABASE_URL), creates a table, takes its migration SQL from the `rxpg` command line (as a migration would),
 * applies it, and prints the typed changes of a few writes. Exits on its own.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import pg from 'pg'
import { firstValueFrom, take, tap, toArray } from 'rxjs'
import { z } from 'zod'
import { createPgListener } from '../lib/index.js'
import { createDurableLog } from '../lib/durable/index.js'
import { tableChanges, validChanges } from '../lib/changes/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'

const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
const url = process.env.DATABASE_URL ?? server!.url
const pool = new pg.Pool({ connectionString: url })
pool.on('error', () => undefined) // pool.end() does not wait for its clients' sockets: the server's stop may reach one first
const schema = 'example_changes'

/** `npx rxpg …`, run from this repository's source. */
const rxpg = (...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'lib', 'cli', 'main.ts'), ...args], { env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' })

// The migration: the durable log (where changes are kept), the table, and its change feed.
await pool.query(rxpg('sql', 'durable', '--schema', schema))
await pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.orders (
  id bigserial PRIMARY KEY,
  customer text NOT NULL,
  status text NOT NULL,
  total numeric(10, 2) NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now()
)`)
const migration = rxpg('sql', 'changes', '--table', `${schema}.orders`, '--log-schema', schema)
console.log(`$ npx rxpg sql changes --table ${schema}.orders --log-schema ${schema}\n${migration.split('\n').slice(0, 2).join('\n')}\n  … (${migration.length} characters of SQL)\n`)
await pool.query(migration)

// The typed feed: bigint ids and numeric totals arrive as exact strings, timestamptz as ISO 8601.
const Order = z.object({
  id: z.string(),
  customer: z.string(),
  status: z.enum(['placed', 'paid', 'shipped']),
  total: z.string(),
  placed_at: z.iso.datetime({ offset: true }),
})
const db = createPgListener(url)
const log = createDurableLog({ listener: db, pool, schema })
const feed = tableChanges({ listener: db, pool, log }, { table: `${schema}.orders`, row: Order, from: 'earliest' }).pipe(
  validChanges((error, change) => console.warn(`change ${change.token} did not decode: ${error.message}`)),
  take(5),
  tap((change) => {
    const row = change.new ?? change.old
    console.log(`${change.op.padEnd(6)} order ${change.key.id}: ${row ? `${row.customer}, ${row.status}, ${row.total}` : '(key only)'}`)
  }),
  toArray(),
)
const done = firstValueFrom(feed)

const { rows } = await pool.query<{ id: string }>(`INSERT INTO ${schema}.orders (customer, status, total) VALUES ('ada', 'placed', 12.50), ('bob', 'placed', 99.90) RETURNING id`)
const id = rows[0]!.id
await pool.query(`UPDATE ${schema}.orders SET status = 'paid' WHERE id = $1`, [id])
await pool.query(`UPDATE ${schema}.orders SET status = 'shipped' WHERE id = $1`, [id])
await pool.query(`DELETE FROM ${schema}.orders WHERE customer = 'bob'`)

const changes = await done
console.log(`\n${changes.length} changes; the last one can be resumed after with { from: '${changes.at(-1)?.token}' }`)
await log.close()
await db.close()
await pool.query(`DROP SCHEMA ${schema} CASCADE`)
await pool.end()
await server?.destroy()
