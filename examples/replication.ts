/**
 * A change stream from logical replication: `npm run example:replication`. Starts an embedded PostgreSQL with
 * wal_level=logical (or uses DATABASE_URL, which must have it), creates a table, its publication and a slot,
 * and streams the changes, typed with zod. Each change's effect (a shipment) is committed together with the
 * change's position, so a consumer restarted from its stored position does each effect exactly once: the
 * example stops the stream half-way through a transaction and starts it again to show it. Exits on its own.
 */
import pg from 'pg'
import { concatMap, filter, lastValueFrom, take } from 'rxjs'
import { z } from 'zod'
import { changeStream, dropReplication, ensureReplication, isCheckpoint, readSlotStatus, type Change, type Checkpoint } from '../lib/replication/index.js'
import { startEmbeddedServer } from '../support/embedded-server.js'

const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer({ settings: { wal_level: 'logical' } })
const url = process.env.DATABASE_URL ?? server!.url
const names = { slot: 'example_orders_feed', publication: 'example_orders' }

const db = new pg.Client({ connectionString: url })
await db.connect()
await db.query('CREATE TABLE IF NOT EXISTS example_orders (id int PRIMARY KEY, status text NOT NULL, total numeric NOT NULL)')
await db.query('CREATE TABLE IF NOT EXISTS example_shipments (order_id int NOT NULL, shipped_at timestamptz NOT NULL DEFAULT now())')
await db.query('CREATE TABLE IF NOT EXISTS example_offsets (consumer text PRIMARY KEY, position text NOT NULL)')
// In production the publication and slot come from a migration: replicationSetupSql() prints it.
await ensureReplication(url, { ...names, tables: ['example_orders'] })

const Order = z.object({ id: z.number(), status: z.enum(['placed', 'paid', 'shipped']), total: z.string() })

/**
 * Handles one change and stores its position in the same transaction: shipping a paid order happens exactly
 * once, however the process stops. Every position is stored (not only those with an effect), and acknowledged
 * only after: the slot then never moves past the stored position.
 */
async function handle(change: Change<z.infer<typeof Order>> | Checkpoint): Promise<void> {
  await db.query('BEGIN')
  if (!isCheckpoint(change) && change.op === 'update' && change.new.status === 'paid') {
    await db.query('INSERT INTO example_shipments (order_id) VALUES ($1)', [change.new.id])
  }
  await db.query(
    `INSERT INTO example_offsets (consumer, position) VALUES ('shipping', $1) ON CONFLICT (consumer) DO UPDATE SET position = excluded.position`,
    [change.position],
  )
  await db.query('COMMIT')
}

async function storedPosition(): Promise<string | undefined> {
  const { rows } = await db.query<{ position: string }>(`SELECT position FROM example_offsets WHERE consumer = 'shipping'`)
  return rows[0]?.position
}

/** Runs the shipping consumer until it has handled `count` changes, then stops it. */
async function consume(count: number): Promise<void> {
  const resumeAfter = await storedPosition()
  const stream = changeStream(url, { ...names, tables: { example_orders: Order }, ...(resumeAfter === undefined ? {} : { resumeAfter }) })
  stream.state$.subscribe((state) => console.log(`  state: ${state.status}${state.status === 'connected' ? ` from ${state.startLsn}` : ''}`))
  const handled = stream.changes$.pipe(
    concatMap(async (change) => {
      if (!isCheckpoint(change)) console.log(`  ${change.op} ${change.table} ${JSON.stringify(change.new ?? change.old)} (last in its transaction: ${change.lastInTransaction})`)
      await handle(change)
      stream.ack(change.position)
      return change
    }),
    filter((change) => !isCheckpoint(change)),
    take(count),
  )
  await lastValueFrom(handled)
  await stream.close()
}

console.log('writing: two orders placed, then one transaction that pays both and ships one')
await db.query(`INSERT INTO example_orders VALUES (1, 'placed', 10.50), (2, 'placed', 99.00)`)
await db.query(`BEGIN; UPDATE example_orders SET status = 'paid' WHERE id = 1; UPDATE example_orders SET status = 'paid' WHERE id = 2; UPDATE example_orders SET status = 'shipped' WHERE id = 1; COMMIT`)

console.log('first run: stops after three changes, in the middle of the second transaction')
await consume(3)
console.log('second run: resumes exactly after the stored position')
await consume(2)

const { rows } = await db.query<{ order_id: number }>('SELECT order_id FROM example_shipments ORDER BY order_id')
console.log(`shipments: ${JSON.stringify(rows.map((row) => row.order_id))} (each paid order shipped once)`)
const status = await readSlotStatus(url, names.slot)
console.log(`slot ${names.slot}: confirmed ${status?.confirmedLsn}; ${status?.unconfirmedBytes} bytes of WAL after it (the consumer's own writes, not watched)`)

await dropReplication(url, names)
await db.query('DROP TABLE example_orders, example_shipments, example_offsets')
await db.end()
await server?.destroy()
console.log('done; the process exits on its own')
