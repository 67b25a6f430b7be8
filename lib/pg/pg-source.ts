import type pg from 'pg'
import { Observable, concatMap, from, last, map, type Subscriber } from 'rxjs'
import { quoteIdentifier } from '../identifiers.js'
import type { ListenSession, NotificationSource, RawNotification } from '../ports/notification-source.js'
import { clientConfigOf, type PgConnectionConfig } from './config.js'
import { NOTIFICATION_RESPONSE, takeOverMessages } from './message-reader.js'
import { readNotification } from './notification-message.js'
import { PgConnection } from './pg-connection.js'

/** Statements per LISTEN/UNLISTEN query: keeps one query's text bounded when thousands of channels re-LISTEN. */
const STATEMENTS_PER_QUERY = 1000

/** The default source: one rxpg-owned `pg.Client` per `connect()`. */
export function pgSource(config: PgConnectionConfig): NotificationSource {
  const clientConfig = clientConfigOf(config, 'listener')
  return {
    connect: (clock) => PgConnection.open(clientConfig).pipe(map((connection) => new PgListenSession(connection, clock))),
  }
}

class PgListenSession implements ListenSession {
  readonly notifications: Observable<RawNotification>
  private lastReceived: number
  /** Who `notifications` hands each one to, when they are read off the socket (copied on change). */
  private sinks: ReadonlyArray<Subscriber<RawNotification>> = []
  /** Whether notifications are read off the socket (else from pg's events). */
  private readonly readsNotifications: boolean

  constructor(
    private readonly connection: PgConnection,
    clock: () => number,
  ) {
    this.lastReceived = clock()
    // Notifications read off the socket ahead of pg's parser (message-reader.ts), every other message to pg:
    // the connection is idle here, just opened, and pg's parser still the socket's one 'data' listener.
    // Otherwise (pg changed, or a socket-less client) from pg's 'notification' events.
    this.readsNotifications = connection.socket !== undefined && takeOverMessages(connection.socket, NOTIFICATION_RESPONSE, this.onNotification) !== undefined
    // One clock reading per socket read, before pg parses it: the notifications of one read share it as
    // their `receivedAt`, and it is the connection's last sign of life. Except for a read that ends the
    // connection (the server's FATAL goodbye): then the connection was last known alive at the read before.
    const socket = connection.socket
    let previous = this.lastReceived
    let reading = false
    socket?.prependListener('data', () => {
      previous = this.lastReceived
      this.lastReceived = clock()
      reading = true
    })
    socket?.on('data', () => {
      reading = false
    })
    // Subscribed before anyone else, so the listener reads the corrected time when it hears of the break.
    connection.broken$.subscribe({
      error: () => {
        if (reading) this.lastReceived = previous
      },
    })
    const client = connection.client
    this.notifications = new Observable<RawNotification>((subscriber) => {
      // pg's message already has the fields needed: handed on as it is rather than copied.
      const forward = (message: pg.Notification) => subscriber.next(message as RawNotification)
      if (this.readsNotifications) this.sinks = [...this.sinks, subscriber]
      else client.on('notification', forward)
      const failure = connection.broken$.subscribe(subscriber)
      return () => {
        if (this.readsNotifications) this.sinks = this.sinks.filter((sink) => sink !== subscriber)
        else client.off('notification', forward)
        failure.unsubscribe()
      }
    })
  }

  /** A NotificationResponse read off the socket: to every subscriber of `notifications`. */
  private readonly onNotification = (buffer: Buffer, start: number, end: number): void => {
    const sinks = this.sinks
    if (sinks.length === 0) return
    const notification = readNotification(buffer, start, end)
    for (let index = 0; index < sinks.length; index++) (sinks[index] as Subscriber<RawNotification>).next(notification)
  }

  get processId(): number {
    return this.connection.processId
  }

  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown> {
    const statements = [...remove.map((name) => 'UNLISTEN ' + quoteIdentifier(name)), ...add.map((name) => 'LISTEN ' + quoteIdentifier(name))]
    const queries: string[] = []
    for (let start = 0; start < statements.length; start += STATEMENTS_PER_QUERY) {
      queries.push(statements.slice(start, start + STATEMENTS_PER_QUERY).join(';'))
    }
    return from(queries).pipe(
      concatMap((text) => this.connection.query(text)),
      last(null, true),
    )
  }

  listeningChannels(): Observable<readonly string[]> {
    return this.connection.query<{ c: string }>('SELECT pg_listening_channels() AS c').pipe(map((result) => result.rows.map((row) => row.c)))
  }

  lastReceivedAt(): number {
    return this.lastReceived
  }

  end(): Promise<void> {
    return this.connection.end()
  }
}
