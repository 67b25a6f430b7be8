import pg from 'pg'
import { inject } from 'vitest'

/** The run's PostgreSQL (see global-setup.ts). */
export function databaseUrl(): string {
  return inject('databaseUrl')
}

/** Runs one query on a short-lived admin connection. */
export async function adminQuery<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], url = databaseUrl()): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  // A server stopped while this client is connected but between queries (a spec's restart) makes pg emit
  // 'error' on it, an uncaught exception without a listener; what matters reaches connect() and query() anyway.
  client.on('error', () => undefined)
  await client.connect()
  try {
    return (await client.query<Row>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** The channels a backend listens to, read through pg_stat_activity's pid from the backend itself is impossible, so this asks the backend's own session via the listener's state. */
export async function terminateBackend(pid: number, url = databaseUrl()): Promise<void> {
  await adminQuery('SELECT pg_terminate_backend($1)', [pid], url)
}

/**
 * Polls `check` until it returns true, or throws after `limitMs` with `describe()`. A bound on waiting for
 * an asynchronous effect, not a timing assertion: generous, and never what a spec measures.
 */
export async function eventually(check: () => boolean | Promise<boolean>, describe: () => string, limitMs = 15_000): Promise<void> {
  const start = Date.now()
  for (;;) {
    if (await check()) return
    if (Date.now() - start > limitMs) throw new Error(`not reached within ${limitMs} ms: ${describe()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A unique channel-name prefix per spec, so specs sharing one server never hear each other. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
}

/** A database of its own on a spec's server, dropped by `drop()`. */
export interface ScratchDatabase {
  readonly url: string
  drop(): Promise<void>
}

/**
 * A database of its own on the server of `url` (the run's by default), named after `prefix`: in `encoding` (with
 * `C` collation: LATIN1 cannot hold 'Ł', EUC_JP writes 'é' in 3 bytes), and whose sessions take `settings` by
 * default (`ALTER DATABASE … SET`, as a DBA would set them for a database, a role or the server), such as
 * `{ default_transaction_isolation: 'serializable' }`.
 */
export async function scratchDatabase(
  prefix: string,
  { encoding, settings = {} }: { readonly encoding?: string; readonly settings?: Readonly<Record<string, string>> } = {},
  url = databaseUrl(),
): Promise<ScratchDatabase> {
  const name = uniqueName(prefix).toLowerCase().replaceAll('-', '_')
  await adminQuery(`CREATE DATABASE "${name}"${encoding === undefined ? '' : ` ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`}`, [], url)
  for (const [setting, value] of Object.entries(settings)) {
    await adminQuery(`ALTER DATABASE "${name}" SET ${setting} = '${value.replaceAll("'", "''")}'`, [], url)
  }
  const own = new URL(url)
  own.pathname = `/${name}`
  return {
    url: own.toString(),
    async drop() {
      // Sessions left behind (a listener closing) would make DROP DATABASE fail; WITH (FORCE) needs PostgreSQL 13.
      await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name], url)
      await adminQuery(`DROP DATABASE IF EXISTS "${name}"`, [], url)
    },
  }
}
