import pg from 'pg'
import { defer } from 'rxjs'
import { SerialQueue } from '../serial-queue.js'
import type { PgConnectionConfig } from '../sources/pg-source.js'
import { SendFailure, type NotifyTransport, type OutgoingNotification } from './notify-transport.js'

/**
 * One statement per batch. `unnest` yields the arrays in order, so pg_notify runs in call order; the channel
 * and payload are always parameters, never SQL text. Named, so each connection parses it once.
 */
const sendOne = { name: 'rxpg_notify_one', text: 'SELECT pg_notify($1, $2)' }
const sendMany = { name: 'rxpg_notify_many', text: 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)' }

/**
 * SQLSTATE classes that mean the statement never committed because the connection or server went away:
 * safe to send again. 08 connection_exception, 57 operator_intervention (shutdown, terminated backend).
 */
const retryableSqlStateClasses = new Set(['08', '57'])

interface Queryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<unknown>
}

/**
 * Sends on a connection of its own, opened on the first send and replaced when it breaks, or on a client
 * borrowed from the user's `pg.Pool`. Never on the listening connection: a slow send must not delay delivery.
 */
export function pgTransport(config: PgConnectionConfig, pool?: pg.Pool): NotifyTransport {
  const clientConfig: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : config
  let own: Promise<pg.Client> | undefined
  let ownClient: pg.Client | undefined
  const processIds = new RecentSet<number>(64)
  /** One query at a time on the transport's own client (see SerialQueue); a pool's client is ours alone anyway. */
  const ownQueries = new WeakMap<pg.Client, SerialQueue>()

  async function ownConnection(): Promise<pg.Client> {
    own ??= (async () => {
      const client = new pg.Client({ keepAlive: true, ...clientConfig })
      const forget = () => {
        if (ownClient === client) ownClient = undefined
        own = undefined
      }
      client.on('error', forget)
      client.on('end', forget)
      try {
        await client.connect()
      } catch (error) {
        forget()
        void client.end().catch(() => undefined)
        throw error
      }
      ownClient = client
      ownQueries.set(client, new SerialQueue())
      return client
    })()
    return own
  }

  async function run(connection: Queryable, batch: readonly OutgoingNotification[]): Promise<void> {
    processIds.add((connection as unknown as { processID: number }).processID)
    try {
      if (batch.length === 1) {
        const only = batch[0] as OutgoingNotification
        await connection.query({ ...sendOne, values: [only.channel, only.payload] })
      } else {
        await connection.query({ ...sendMany, values: [batch.map((n) => n.channel), batch.map((n) => n.payload)] })
      }
    } catch (error) {
      const sqlState = (error as { code?: unknown }).code
      if (typeof sqlState !== 'string' || sqlState.length !== 5) throw new SendFailure('interrupted', error)
      throw new SendFailure(retryableSqlStateClasses.has(sqlState.slice(0, 2)) ? 'unavailable' : 'rejected', error)
    }
  }

  return {
    processIds,
    send: (batch) =>
      defer(async () => {
        if (pool === undefined) {
          const client = await ownConnection().catch((error: unknown) => {
            throw new SendFailure('unavailable', error)
          })
          const queries = ownQueries.get(client) as SerialQueue
          return queries.run(() => run(client, batch))
        }
        const client = await pool.connect().catch((error: unknown) => {
          throw new SendFailure('unavailable', error)
        })
        try {
          await run(client, batch)
          client.release()
        } catch (error) {
          // A client whose connection broke must not go back to the pool.
          client.release(error instanceof SendFailure && error.kind !== 'rejected' ? (error.original as Error) : undefined)
          throw error
        }
      }),
    end: async () => {
      const pendingConnection = own
      own = undefined
      const client = ownClient ?? (await pendingConnection?.catch(() => undefined))
      ownClient = undefined
      await client?.end().catch(() => undefined)
    },
  }
}

/** A set that keeps only its most recently added members, so a long-lived pool's churn cannot grow it. */
class RecentSet<T> extends Set<T> {
  constructor(private readonly capacity: number) {
    super()
  }

  override add(value: T): this {
    if (this.has(value)) return this
    if (this.size >= this.capacity) this.delete(this.values().next().value as T)
    return super.add(value)
  }
}
