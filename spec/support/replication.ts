import pg from 'pg'
import { filter, firstValueFrom, type Observable } from 'rxjs'
import { afterAll, afterEach, beforeAll } from 'vitest'
import {
  changeStream,
  dropReplication,
  ensureReplication,
  isCheckpoint,
  type Change,
  type ChangeStream,
  type ChangeStreamOptions,
  type Checkpoint,
  type ReplicationState,
  type ReplicationStream,
} from '../../lib/replication/index.js'
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

export interface ReplicationNames {
  readonly slot: string
  readonly publication: string
}

/**
 * Slots, publications and change streams for the spec file that calls it, on the logical server `url()` names:
 * `setup` makes a publication of `tables` and a slot, `open` a change stream on them (no checkpoints, a status
 * update every 50 ms, unless `options` say otherwise). Each test's are closed and dropped after it.
 */
export function replicationFixtures(url: () => string): {
  setup(tables: string[]): Promise<ReplicationNames>
  open(names: ReplicationNames, options?: Partial<ChangeStreamOptions> & { tables?: string[] }): ChangeStream<Change>
} {
  const streams: ChangeStream<Change>[] = []
  const setups: ReplicationNames[] = []
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((stream) => stream.close()))
    for (const setup of setups.splice(0)) await dropReplication(url(), setup)
  })
  return {
    async setup(tables) {
      const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
      await ensureReplication(url(), { ...names, tables })
      setups.push(names)
      return names
    },
    open(names, options = {}) {
      const stream = changeStream(url(), { ...names, checkpoints: false, statusInterval: 50, ...options })
      streams.push(stream)
      return stream
    },
  }
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
  // As adminQuery: a server stopped or crashed by a spec while this client is idle makes pg emit 'error' on it,
  // an uncaught exception without a listener; what matters reaches connect() and query() anyway.
  client.on('error', () => undefined)
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
