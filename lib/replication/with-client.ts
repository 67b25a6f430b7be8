import pg from 'pg'
import { catalogTypes } from '../pg/catalog-types.js'
import { classifyConnectionError } from '../pg/classify-error.js'
import { clientConfigOf, type PgConnectionConfig } from '../pg/config.js'
import { secretsOf } from '../pg/secrets.js'

/**
 * Runs `work` (rxpg's own catalog queries and commands) on a short-lived connection; connection failures are
 * rxpg's typed, redacted errors. Results are read with rxpg's parsers, whatever the application set for the
 * whole process or in the config's `types` (a text parser made the set-up read wal_level as 'app:logical').
 */
export async function withClient<T>(config: PgConnectionConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...clientConfigOf(config, 'replication catalog'), types: catalogTypes })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (error) {
    throw classifyConnectionError(error, secretsOf(config))
  }
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}
