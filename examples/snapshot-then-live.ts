/**
 * Snapshot, then live changes, without a race: `npm run example:snapshot`.
 *
 * A writer keeps inserting orders (each with a NOTIFY in its transaction) while a reader builds its view: it
 * subscribes, waits until the channel's LISTEN is in effect (`db.listening`), loads the table, then applies
 * every live change on top. Whatever the timing, the view ends equal to the table. Starts an embedded
 * PostgreSQL (or uses DATABASE_URL), and exits on its own.
 */
import pg from 'pg'
import { from, mergeMap } from 'rxjs'
import { createPgListener, snapshotThenLive } from '../lib/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'

const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
const url = process.env.DATABASE_URL ?? server!.url
const pool = new pg.Pool({ connectionString: url })
await pool.query('CREATE TABLE IF NOT EXISTS example_orders (id bigint PRIMARY KEY, status text NOT NULL)')
await pool.query('TRUNCATE example_orders')

// The writer: one order every 2 ms, the row and its NOTIFY in one transaction.
let writing = true
const writer = (async () => {
  for (let id = 1; writing; id++) {
    await pool.query(
      `WITH inserted AS (INSERT INTO example_orders (id, status) VALUES ($1, 'placed') RETURNING id)
       SELECT pg_notify('example_orders', id::text) FROM inserted`,
      [id],
    )
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
})()
await new Promise((resolve) => setTimeout(resolve, 100))

// The reader: a view keyed by id, from a snapshot and then live changes.
const db = createPgListener(url)
const view = new Map<number, string>()
const subscription = db
  .channel('example_orders')
  .pipe(
    snapshotThenLive(db.listening('example_orders'), () =>
      from(pool.query<{ id: string; status: string }>('SELECT id, status FROM example_orders')).pipe(mergeMap((result) => result.rows)),
    ),
  )
  .subscribe((value) => {
    // Snapshot rows and live notifications alike; applying one twice changes nothing (idempotent by key).
    if (typeof value === 'object' && 'status' in value) view.set(Number(value.id), value.status)
    else view.set(Number(value.payload), 'placed')
  })

await new Promise((resolve) => setTimeout(resolve, 300))
writing = false
await writer
// Let the last notifications arrive.
await new Promise((resolve) => setTimeout(resolve, 200))
const table = await pool.query<{ count: string }>('SELECT count(*) FROM example_orders')
const rows = Number(table.rows[0]!.count)
console.log(`table: ${rows} orders; view: ${view.size} orders; ${rows === view.size ? 'equal' : 'DIFFERENT'}`)

subscription.unsubscribe()
await db.close()
await pool.end()
await server?.destroy()
if (rows !== view.size) process.exitCode = 1
