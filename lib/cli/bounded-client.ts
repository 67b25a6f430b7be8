/**
 * A connection for one check (sql changes reading the primary key, changes checking its feed) whose connecting
 * and statements are bounded by `--timeout`: a server that accepts connections and never answers fails it, as a
 * server that cannot be reached does (exit code 3), rather than keep the command waiting for ever.
 */
import pg from 'pg'
import { ChangesQueryFailedError } from '../changes/index.js'
import { failureInfo } from '../durable/pg-failure.js'
import { namedFor } from '../pg/config.js'
import { connectionStringProblem } from '../pg/connection-string-problem.js'

/** Runs `work` on a new connection, and ends the connection. */
export async function withBoundedClient<T>(url: string, timeout: number, operation: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const failed = (error: unknown) => {
    const info = failureInfo(error)
    // pg says only "timeout expired" when connectionTimeoutMillis passed, and "Invalid URL" for a connection
    // string it cannot parse.
    const detail = /^timeout expired$/i.test(info.detail)
      ? `Connection terminated: no answer within ${timeout} ms (--timeout)`
      : info.systemCode === 'ERR_INVALID_URL'
        ? connectionStringProblem(url)
        : info.detail
    return new ChangesQueryFailedError({ operation: `connection (${operation})`, ...info, detail }, { cause: error })
  }
  let client: pg.Client
  try {
    // pg parses the connection string here, and throws for one it cannot use (a port out of range).
    client = new pg.Client({ ...namedFor('cli'), connectionString: url, connectionTimeoutMillis: timeout, query_timeout: timeout })
  } catch (error) {
    throw failed(error)
  }
  client.on('error', () => undefined)
  try {
    await client.connect().catch((error: unknown) => {
      throw failed(error)
    })
    return await work(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}
