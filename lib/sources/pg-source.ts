import pg from 'pg'
import { Observable, Subject, defer, from, map } from 'rxjs'
import { quoteIdentifier } from '../identifiers.js'
import { SerialQueue } from '../serial-queue.js'
import type { ListenSession, NotificationSource, RawNotification } from './notification-source.js'

/** A `pg` connection string or `pg.ClientConfig`: what `createPgListener` accepts. */
export type PgConnectionConfig = string | pg.ClientConfig

/** Statements per LISTEN/UNLISTEN query: keeps one query's text bounded when thousands of channels re-LISTEN. */
const STATEMENTS_PER_QUERY = 1000

/**
 * The default source: one `pg.Client` per `connect()`. TCP keep-alive is on unless the config says otherwise,
 * so the kernel also helps to find dead peers.
 */
export function pgSource(config: PgConnectionConfig): NotificationSource {
  const clientConfig: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : config
  return {
    connect: () =>
      new Observable<ListenSession>((subscriber) => {
        const client = new pg.Client({ keepAlive: true, ...clientConfig })
        const session = new PgListenSession(client)
        client.connect().then(
          () => {
            session.start()
            subscriber.next(session)
          },
          (error: unknown) => subscriber.error(error),
        )
        return () => void session.end()
      }),
  }
}

class PgListenSession implements ListenSession {
  /** Carries only the end of the connection (error); notifications go straight to the subscriber. */
  private readonly failure$ = new Subject<never>()
  readonly notifications = new Observable<RawNotification>((subscriber) => {
    // pg's message already has the fields we need: hand it on as it is rather than allocating a copy.
    const forward = (message: pg.Notification) => subscriber.next(message as RawNotification)
    this.client.on('notification', forward)
    const failure = this.failure$.subscribe(subscriber)
    return () => {
      this.client.off('notification', forward)
      failure.unsubscribe()
    }
  })
  /** One query at a time on this client (see SerialQueue). */
  private readonly queries = new SerialQueue()
  private ending: Promise<void> | undefined

  constructor(private readonly client: pg.Client) {
    // Without an 'error' listener a lost connection would crash the process; the listener reconnects instead.
    client.on('error', (error) => this.failure$.error(error))
  }

  get processId(): number {
    return (this.client as unknown as { processID: number }).processID
  }

  start(): void {
    this.client.on('end', () => this.failure$.error(new Error('Connection ended')))
  }

  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown> {
    const statements = [
      ...remove.map((name) => 'UNLISTEN ' + quoteIdentifier(name)),
      ...add.map((name) => 'LISTEN ' + quoteIdentifier(name)),
    ]
    return defer(() =>
      this.queries.run(async () => {
        for (let start = 0; start < statements.length; start += STATEMENTS_PER_QUERY) {
          await this.client.query(statements.slice(start, start + STATEMENTS_PER_QUERY).join(';'))
        }
      }),
    )
  }

  listeningChannels(): Observable<readonly string[]> {
    return defer(() => from(this.queries.run(() => this.client.query<{ c: string }>('SELECT pg_listening_channels() AS c')))).pipe(
      map((result) => result.rows.map((row) => row.c)),
    )
  }

  notifySelf(channel: string, payload: string): Observable<unknown> {
    return defer(() => from(this.queries.run(() => this.client.query('SELECT pg_notify($1, $2)', [channel, payload]))))
  }

  end(): Promise<void> {
    this.ending ??= this.client.end().catch(() => undefined)
    return this.ending
  }
}
