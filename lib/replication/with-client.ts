import pg from 'pg'
import { classifyConnectionError } from '../pg/classify-error.js'
import { clientConfigOf, type PgConnectionConfig } from '../pg/config.js'
import { secretsOf } from '../pg/secrets.js'

/** Runs `work` on a short-lived connection; connection failures are rxpg's typed, redacted errors. */
export async function withClient<T>(config: PgConnectionConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfigOf(config, 'replication catalog'))
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
