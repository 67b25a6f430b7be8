/**
 * A durable log installed by its owner and used by an application role with exactly the grants docs/durable.md
 * names (its "Roles and grants" section): every operation works, maintenance is the owner's (the application's
 * attempt is a typed error), and the first open after a restore, which raises the epoch, works for it too.
 */
import pg from 'pg'
import { filter, firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { createDurableLog, DurableQueryFailedError, durableSchemaSql, type DurableLog, type DurableStall } from '../../lib/durable/index.js'
import { decodeToken } from '../../lib/durable/position.js'
import { adminQuery, eventually } from '../support/database.js'
import { applicationRole, durableFixture, type ApplicationRole, type DurableFixture } from '../support/durable.js'

let owner: DurableFixture
let app: ApplicationRole
let role = ''
let appUrl = ''
let listener: PgListener
let pool: pg.Pool
const logs: DurableLog[] = []

beforeAll(async () => {
  owner = await durableFixture('durable_privileges', { maintenanceInterval: false })
  app = await applicationRole(owner, 'app')
  role = app.role
  appUrl = app.url
  listener = createPgListener(appUrl)
  pool = new pg.Pool({ connectionString: appUrl, max: 5 })
  pool.on('error', () => undefined)
})
afterAll(async () => {
  await Promise.all(logs.map((log) => log.close()))
  await listener.close()
  await pool.end()
  await owner.close()
  await app.drop()
})

const appLog = () => {
  const log = createDurableLog({ listener, pool, schema: owner.schema, maintenanceInterval: false })
  logs.push(log)
  return log
}

describe('an application role with the documented grants', () => {
  it('appends, reads, fetches, runs transactions and consumes', async () => {
    const log = appLog()
    const first = await log.append('grants', { n: 1 })
    log.append$.next({ channel: 'grants', value: { n: 2 } })
    await log.transaction(async (client) => void (await log.append('grants', { n: 3 }, { client })))
    // append$ and the transaction run side by side: either may commit first.
    const byN = (values: unknown[]) => [...values].sort((a, b) => (a as { n: number }).n - (b as { n: number }).n)
    const read = await firstValueFrom(log.read('grants', { from: 'earliest' }).pipe(take(3), toArray()))
    expect(byN(read.map((message) => message.value))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(byN((await log.fetch('grants', { after: first })).messages.map((message) => message.value))).toEqual([{ n: 2 }, { n: 3 }])
    const handled: unknown[] = []
    const consumer = log.consume('grants', 'workers', async (messages) => void handled.push(...messages.map((message) => message.value)), { from: 'earliest' })
    await eventually(() => handled.length >= 3, () => `handled ${handled.length}`)
    await consumer.stop()
    expect(byN(handled)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
  })

  it("cannot run maintenance that has a partition to create or drop, which is the owner's: a typed error", async () => {
    const log = createDurableLog({ listener, pool, schema: owner.schema, maintenanceInterval: false, retention: { premake: 6 } })
    logs.push(log)
    const error = await log
      .maintain()
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(DurableQueryFailedError)
    expect((error as DurableQueryFailedError).info).toMatchObject({ operation: 'maintenance', sqlState: '42501' })
    expect((error as DurableQueryFailedError).message).toContain('grant what "Roles and grants" in docs/durable.md lists')
  })

  // An application that calls ensureSchema() at start against a log its migration installed got 42501 (CREATE
  // on the database, for CREATE SCHEMA IF NOT EXISTS), and a message sending it to grants it already had.
  it('calls ensureSchema() on a log installed at the current version without creating anything (a no-op)', async () => {
    await appLog().ensureSchema()
  })

  // Re-applied in a migration's transaction, the SQL took a SHARE lock on the log (CREATE INDEX IF NOT EXISTS
  // locks before it looks), holding every append and every feed writer until the migration committed, and
  // deadlocking them with a feed change in the same transaction (a new user's trial).
  it('installs again, in an open transaction, without locking the log against appends', async () => {
    const migration = new pg.Client({ connectionString: owner.url })
    await migration.connect()
    try {
      await migration.query('BEGIN')
      await migration.query(durableSchemaSql({ schema: owner.schema }))
      const locks = await migration.query<{ relation: string; mode: string }>(
        `SELECT c.relname AS relation, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() AND n.nspname = $1 AND c.relname LIKE 'durable_log%'
           AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')`,
        [owner.schema],
      )
      expect(locks.rows).toEqual([])
      // An append commits while the migration's transaction is still open.
      await appLog().append('grants', { during: 'migration' })
    } finally {
      await migration.query('ROLLBACK').catch(() => undefined)
      await migration.end()
    }
  })

  it('reads and fetches with the read-only grants docs/durable.md names', async () => {
    const reader = `${role}_ro`
    const s = `"${owner.schema}"`
    await adminQuery(
      `CREATE ROLE ${reader} LOGIN PASSWORD 'app-secret';
       GRANT USAGE ON SCHEMA ${s} TO ${reader};
       GRANT SELECT ON ${s}.durable_log, ${s}.durable_expired, ${s}.durable_meta TO ${reader}`,
      [],
      owner.url,
    )
    const readerPool = new pg.Pool({ connectionString: appUrl.replace(`//${role}:`, `//${reader}:`), max: 2 })
    readerPool.on('error', () => undefined)
    const log = createDurableLog({ listener, pool: readerPool, schema: owner.schema, maintenanceInterval: false })
    try {
      await log.ensureSchema()
      const token = await appLog().append('read-only', { n: 1 })
      // Committed is not yet readable while an older transaction (another spec's) holds the horizon back.
      let fetched: string[] = []
      await eventually(async () => (fetched = (await log.fetch('read-only', { after: 'earliest' })).messages.map((message) => message.token)).length > 0, () => 'nothing fetched')
      expect(fetched).toEqual([token])
      const read = await firstValueFrom(log.read('read-only', { from: 'earliest' }).pipe(take(1), toArray()))
      expect(read.map((message) => message.value)).toEqual([{ n: 1 }])
    } finally {
      await log.close()
      await readerPool.end()
      await adminQuery(`DROP OWNED BY ${reader}; DROP ROLE ${reader}`, [], owner.url).catch(() => undefined)
    }
  })

  it('names what failed when a role may only read: registering a new channel for a consumer, not an append', async () => {
    const reader = `${role}_reader`
    const s = `"${owner.schema}"`
    await adminQuery(`CREATE ROLE ${reader} LOGIN PASSWORD 'app-secret'; GRANT USAGE ON SCHEMA ${s} TO ${reader}; GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${reader}`, [], owner.url)
    const readerPool = new pg.Pool({ connectionString: appUrl.replace(`//${role}:`, `//${reader}:`), max: 2 })
    readerPool.on('error', () => undefined)
    const log = createDurableLog({ listener, pool: readerPool, schema: owner.schema, maintenanceInterval: false })
    try {
      const consumer = log.consume('never-registered', 'readers', () => undefined)
      const error = await consumer.done.catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(DurableQueryFailedError)
      expect((error as DurableQueryFailedError).info).toMatchObject({ operation: 'channel registration', sqlState: '42501' })
    } finally {
      await log.close()
      await readerPool.end()
      await adminQuery(`DROP OWNED BY ${reader}; DROP ROLE ${reader}`, [], owner.url).catch(() => undefined)
    }
  })

  // pg_stat_activity shows a role without pg_read_all_stats another role's sessions without their activity (state,
  // xact_start, query): the holder is still named, with null for what it may not see.
  it("names a stall's holder in another role's session, without its state and start, which it may not see", async () => {
    const log = createDurableLog({ listener, pool, schema: owner.schema, maintenanceInterval: false, stall: { threshold: 300, interval: 50 } })
    logs.push(log)
    const holder = new pg.Client({ connectionString: owner.url, application_name: 'owner-writer' })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      const [held] = (await holder.query<{ pid: number; xid: string }>('SELECT pg_backend_pid() AS pid, txid_current()::text AS xid')).rows
      const stalled = await firstValueFrom(log.stalls$.pipe(filter((event): event is Extract<DurableStall, { kind: 'stalled' }> => event.kind === 'stalled' && event.xid === held!.xid)))
      expect(stalled.holder).toEqual({ pid: held!.pid, preparedGid: null, state: null, since: null, user: decodeURIComponent(new URL(owner.url).username), database: decodeURIComponent(new URL(owner.url).pathname.slice(1)), applicationName: 'owner-writer' })
    } finally {
      await holder.query('COMMIT')
      await holder.end()
    }
  })

  it('opens the log after a restore, raising the epoch, without the owner opening it first', async () => {
    const before = await appLog().append('restored', 'before')
    // What pg_dump into a new cluster does: another system identifier, and a transaction counter behind.
    await adminQuery(`UPDATE "${owner.schema}".durable_meta SET seen_xid = txid_current() + 1000000000`, [], owner.url)
    const after = await appLog().append('restored', 'after')
    const logId = before.split('.')[1] as string
    expect(decodeToken(after, logId).epoch).toBe(decodeToken(before, logId).epoch + 1)
  })
})
