import pg from 'pg'
import { filter, firstValueFrom, type Observable } from 'rxjs'
import { afterAll, beforeAll } from 'vitest'
import { isCheckpoint, type Checkpoint, type ReplicationState, type ReplicationStream } from '../../lib/replication/index.js'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { embeddedVersion } from './global-setup.js'

/**
 * A PostgreSQL of the run's major version (RXPG_PG_VERSION) that can decode its WAL: the shared test server
 * runs with wal_level=replica, so replication specs start one of their own.
 */
export function startLogicalServer(settings: Record<string, string> = {}): Promise<EmbeddedServer> {
  return startEmbeddedServer({ ...embeddedVersion(), settings: { wal_level: 'logical', max_replication_slots: '20', max_wal_senders: '20', ...settings } })
}

/**
 * A logical server for the spec file that calls it: started before its specs (handed to `started`), destroyed
 * after them.
 */
export function useLogicalServer(started: (server: EmbeddedServer) => void): void {
  let server: EmbeddedServer | undefined
  beforeAll(async () => {
    server = await startLogicalServer()
    started(server)
  })
  afterAll(async () => {
    await server?.destroy()
  })
}

/** The major version of a server. */
export async function serverMajor(url: string): Promise<number> {
  const rows = await query<{ v: number }>(url, `SELECT current_setting('server_version_num')::int AS v`)
  return Math.floor((rows[0] as { v: number }).v / 10000)
}

/** A slot (or publication, table) name no other spec uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
}

/** Runs statements on a short-lived connection; returns the last result's rows. */
export async function query<Row extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const result = await client.query<Row>(text, values)
    return (Array.isArray(result) ? (result.at(-1) as pg.QueryResult<Row>) : result).rows
  } finally {
    await client.end()
  }
}

/** Resolves with the first state of the given status. */
export function stateOf<S extends ReplicationState['status']>(stream: ReplicationStream, status: S): Promise<Extract<ReplicationState, { status: S }>> {
  return firstValueFrom(stream.state$.pipe(filter((state): state is Extract<ReplicationState, { status: S }> => state.status === status)))
}

interface Collected<T> {
  readonly values: T[]
  readonly errors: unknown[]
  stop(): void
}

/** Collects what a stream delivers, acknowledging nothing; checkpoints are left out unless asked for. */
export function collect<T>(items$: Observable<T>): Collected<Exclude<T, Checkpoint>>
export function collect<T>(items$: Observable<T>, options: { readonly checkpoints: true }): Collected<T>
export function collect<T>(items$: Observable<T>, options: { readonly checkpoints?: boolean } = {}): Collected<T> {
  const values: T[] = []
  const errors: unknown[] = []
  const subscription = items$.subscribe({
    next: (item) => {
      if (options.checkpoints === true || !isCheckpoint(item)) values.push(item)
    },
    error: (error: unknown) => void errors.push(error),
  })
  return { values, errors, stop: () => subscription.unsubscribe() }
}
