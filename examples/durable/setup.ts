/**
 * What every durable example needs: a PostgreSQL (embedded, or DATABASE_URL), a listener for wake-ups, a pool
 * for the log's tables, and the log itself in a schema of its own (installed with ensureSchema, as in development).
 */
import pg from 'pg'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog, type DurableLog } from '../../lib/durable/index.js'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'

export interface ExampleSetup {
  readonly url: string
  readonly server: EmbeddedServer | undefined
  readonly pool: pg.Pool
  readonly log: DurableLog
  /** A fresh listener and log on the same database and schema, as a restarted process would open them. */
  reopen(): { log: DurableLog; close(): Promise<void> }
  close(): Promise<void>
}

export async function exampleSetup(schema: string): Promise<ExampleSetup> {
  const server = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
  const url = process.env.DATABASE_URL ?? server!.url
  const pool = new pg.Pool({ connectionString: url })
  pool.on('error', () => undefined) // idle clients of a restarted server
  const open = () => {
    const listener = createPgListener(url)
    const log = createDurableLog({ listener, pool, schema })
    return { log, close: async () => (await log.close(), await listener.close()) }
  }
  const first = open()
  await first.log.ensureSchema()
  return {
    url,
    server,
    pool,
    log: first.log,
    reopen: open,
    async close() {
      await first.close()
      await pool.end()
      await server?.destroy()
    },
  }
}
