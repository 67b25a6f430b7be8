import pg from 'pg'
import { createPgListener, type PgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog, type DurableLogOptions } from '../../lib/durable/index.js'
import { inject } from 'vitest'
import { adminQuery } from './database.js'

/**
 * The server the durable specs use: one of their own (global-setup.ts), since a transaction left open by any
 * other spec holds the snapshot horizon, and with it every durable reader, back.
 */
export function durableDatabaseUrl(): string {
  return inject('durableDatabaseUrl')
}

/** A schema name no other spec file (or run) uses, so specs sharing one server never see each other's logs. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
}

export interface DurableFixture {
  readonly url: string
  readonly schema: string
  readonly listener: PgListener
  readonly pool: pg.Pool
  readonly log: DurableLog
  /** Another log on the same schema (as a second process would have), closed with the fixture. */
  openLog(options?: Partial<DurableLogOptions>): DurableLog
  close(): Promise<void>
}

/** A listener, a pool and a durable log in a fresh schema (installed with ensureSchema); `close()` drops the schema. */
export async function durableFixture(prefix: string, options: Partial<DurableLogOptions> = {}, url = durableDatabaseUrl()): Promise<DurableFixture> {
  const schema = uniqueSchema(prefix)
  const listener = createPgListener(url)
  const pool = new pg.Pool({ connectionString: url, max: 20 })
  // An idle client whose server went away (the restart spec) must not crash the run; pg asks for this handler.
  pool.on('error', () => undefined)
  const logs: DurableLog[] = []
  const openLog = (extra: Partial<DurableLogOptions> = {}) => {
    const log = createDurableLog({ listener, pool, schema, ...options, ...extra })
    logs.push(log)
    return log
  }
  const log = openLog()
  await log.ensureSchema()
  return {
    url,
    schema,
    listener,
    pool,
    log,
    openLog,
    async close() {
      await Promise.all(logs.map((each) => each.close()))
      await listener.close()
      await pool.end()
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], url).catch(() => undefined)
    },
  }
}

/**
 * Waits until every transaction that holds an id now, anywhere on the server, has ended: then everything
 * committed before the call is below the horizon and readable. Specs share one server, and another spec's
 * open transaction holds every reader's horizon back (by design), so a read right after a commit may not see it yet.
 */
export async function horizonPassed(url: string, limitMs = 20_000): Promise<void> {
  const [now] = await adminQuery<{ xmax: string }>('SELECT txid_snapshot_xmax(txid_current_snapshot())::text AS xmax', [], url)
  const start = Date.now()
  for (;;) {
    const [row] = await adminQuery<{ passed: boolean }>('SELECT txid_snapshot_xmin(txid_current_snapshot()) >= $1::bigint AS passed', [now!.xmax], url)
    if (row?.passed) return
    if (Date.now() - start > limitMs) {
      const holders = await adminQuery('SELECT pid, backend_xid, state, left(query, 80) AS query, now() - xact_start AS open_for FROM pg_stat_activity WHERE backend_xid IS NOT NULL', [], url)
      throw new Error(`the horizon did not pass within ${limitMs} ms; transactions holding it: ${JSON.stringify(holders)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Appends `values` to `channel` (500 at a time, concurrently), then waits until all are readable. */
export async function appendAll(log: DurableLog, channel: string, values: readonly unknown[], url = durableDatabaseUrl()): Promise<void> {
  for (let index = 0; index < values.length; index += 500) {
    await Promise.all(values.slice(index, index + 500).map((value) => log.append(channel, value)))
  }
  await horizonPassed(url)
}

/** Every value of a channel after `after`, through `fetch` pages, once everything committed before the call is readable. */
export async function fetchAll(log: DurableLog, channel: string, after: string | 'earliest' = 'earliest', url = durableDatabaseUrl()): Promise<Array<{ token: string; value: unknown }>> {
  await horizonPassed(url)
  const all: Array<{ token: string; value: unknown }> = []
  for (let position = after; ; ) {
    const page = await log.fetch(channel, { after: position, limit: 100 })
    all.push(...page.messages.map((message) => ({ token: message.token, value: message.value })))
    if (page.messages.length === 0) return all
    position = page.next
  }
}

/**
 * Locks schema's log table in a session of its own, in `mode` (ACCESS EXCLUSIVE: page reads wait; SHARE: inserts
 * wait), until the returned function rolls it back. The lock takes no transaction id: it holds no horizon back.
 */
export async function lockLog(url: string, schema: string, mode: 'ACCESS EXCLUSIVE' | 'SHARE' = 'ACCESS EXCLUSIVE'): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url })
  // As adminQuery: an 'error' while it holds the lock idle (a spec's restart) must not be an uncaught exception.
  client.on('error', () => undefined)
  await client.connect()
  await client.query('BEGIN')
  await client.query(`LOCK TABLE "${schema}".durable_log IN ${mode} MODE`)
  return async () => {
    await client.query('ROLLBACK')
    await client.end()
  }
}

/** Resolves once a session of the server waits for a lock (a statement behind lockLog has started). */
export async function lockWaitedFor(url: string): Promise<void> {
  for (;;) {
    const [row] = await adminQuery<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'", [], url)
    if ((row?.n ?? 0) > 0) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A pool that counts the page statements run on it, and can have the server end the session under one of them. */
export interface PageCountingPool {
  readonly pool: pg.Pool
  /** Page statements run on the pool since the last `reset()`. */
  readonly reads: number
  reset(): void
  /** The `nth` page statement from now fails: its session is ended (pg_terminate_backend) just before it is sent. */
  terminateBeforeRead(nth: number): void
  end(): Promise<void>
}

export function pageCountingPool(url: string): PageCountingPool {
  let reads = 0
  let terminateAt: number | undefined
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  // The sessions this pool's owner has the server end would otherwise crash the run; pg asks for this handler.
  pool.on('error', () => undefined)
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as string | { text?: string }
      const text = typeof config === 'string' ? config : (config.text ?? '')
      // A page read is the one statement with a header row and its rows in a UNION ALL (queries.ts).
      if (!text.includes('UNION ALL (')) return query(...args)
      reads += 1
      if (reads !== terminateAt) return query(...args)
      // pg-pool passes a callback: the statement goes out once the server has ended the session.
      const pid = (client as unknown as { processID: number }).processID
      void adminQuery('SELECT pg_terminate_backend($1)', [pid], url).then(() => query(...args))
      return undefined
    }
  })
  return {
    pool,
    get reads() {
      return reads
    },
    reset() {
      reads = 0
      terminateAt = undefined
    },
    terminateBeforeRead(nth) {
      terminateAt = reads + nth
    },
    end: () => pool.end(),
  }
}

/** A login role with the grants docs/durable.md names for an application ("Roles and grants"), on a fixture's log. */
export interface ApplicationRole {
  readonly role: string
  /** The durable server's URL, as this role. */
  readonly url: string
  /** Drops what the role owns, and the role. */
  drop(): Promise<void>
}

export async function applicationRole(owner: DurableFixture, prefix: string): Promise<ApplicationRole> {
  const role = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const password = `${prefix}-secret`
  const s = `"${owner.schema}"`
  await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`, [], owner.url)
  // The grants of docs/durable.md, word for word (the schema's name put in).
  await adminQuery(
    `GRANT USAGE ON SCHEMA ${s} TO ${role};
     GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${role};
     GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${s} TO ${role}`,
    [],
    owner.url,
  )
  return {
    role,
    url: durableDatabaseUrl().replace(/\/\/[^@]*@/, `//${role}:${password}@`),
    drop: async () => void (await adminQuery(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`, [], owner.url).catch(() => undefined)),
  }
}
