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
