import type pg from 'pg'
import { Observable, Subscription, type Observer, type Subscriber } from 'rxjs'
import { DISPATCHED, SendFailure, type NotifyTransport, type OutgoingNotification } from '../ports/notify-transport.js'
import { checkOut, type CheckedOutClient } from './check-out.js'
import { clientConfigOf, type PgConnectionConfig } from './config.js'
import { driverFacts } from './driver-error.js'
import { PgConnection } from './pg-connection.js'
import { STATEMENT_NAME_SQLSTATES } from './statement-name-refused.js'

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

/**
 * Sends on a connection of its own, opened on the first send and replaced when it breaks or is abandoned, or
 * on a client borrowed from the user's `pg.Pool`. Never on the listening connection: a slow send must not
 * delay delivery.
 */
export function pgTransport(config: PgConnectionConfig, pool?: pg.Pool): NotifyTransport {
  const processIds = new RecentSet<number>(64)
  const own = pool === undefined ? new OwnConnection(clientConfigOf(config, 'notify')) : undefined
  // Set once the server refused a statement by its name (a transaction-mode pooler): unnamed from then on.
  let unnamed = false

  const statementFor = (batch: readonly OutgoingNotification[]): pg.QueryConfig => {
    const only = batch.length === 1 ? (batch[0] as OutgoingNotification) : undefined
    const { name, text } = only ? sendOne : sendMany
    const values = only ? [only.channel, only.payload] : [batch.map((n) => n.channel), batch.map((n) => n.payload)]
    return unnamed ? { text, values } : { name, text, values }
  }

  /** The port's failure for `error`; a statement refused by its name never ran: not sent, and sent unnamed next. */
  const failureOf = (error: unknown, dispatched: boolean): SendFailure => {
    const { sqlState } = driverFacts(error, (text) => text)
    if (sqlState !== undefined && STATEMENT_NAME_SQLSTATES.has(sqlState)) {
      unnamed = true
      return new SendFailure('unavailable', error)
    }
    return sendFailureOf(error, dispatched)
  }

  /** Runs the batch's statement on `connection`, reporting to `observer` in the port's terms. */
  const run = (connection: PgConnection, batch: readonly OutgoingNotification[], observer: Observer<typeof DISPATCHED>): Subscription => {
    processIds.add(connection.processId)
    let dispatched = false
    return connection
      .query(statementFor(batch), () => {
        dispatched = true
        observer.next(DISPATCHED)
      })
      .subscribe({
        next: () => observer.complete(),
        error: (error: unknown) => observer.error(failureOf(error, dispatched)),
      })
  }

  return {
    processIds,
    send: (batch) =>
      new Observable<typeof DISPATCHED>((subscriber) => {
        if (own !== undefined) {
          const subscription = new Subscription()
          subscription.add(
            own.connection().subscribe({
              next: (connection) => subscription.add(run(connection, batch, subscriber)),
              error: (error: unknown) => subscriber.error(new SendFailure('unavailable', error)),
            }),
          )
          return subscription
        }
        return sendOnPool(pool as pg.Pool, statementFor(batch), processIds, subscriber, failureOf)
      }),
    end: async () => {
      await own?.end()
    },
  }
}

/**
 * Sends on a client borrowed from the user's pool for this batch (ours alone while borrowed). Abandoned in
 * flight, or broken, the client is released with an error so that the pool destroys it.
 */
function sendOnPool(
  pool: pg.Pool,
  statement: pg.QueryConfig,
  processIds: RecentSet<number>,
  observer: Observer<typeof DISPATCHED>,
  failureOf: (error: unknown, dispatched: boolean) => SendFailure,
): () => void {
  let abandoned = false
  let inFlight: CheckedOutClient | undefined
  checkOut(pool).then(
    (checkedOut) => {
      if (abandoned) return checkedOut.release()
      const { client } = checkedOut
      processIds.add((client as unknown as { processID: number }).processID)
      inFlight = checkedOut
      observer.next(DISPATCHED)
      client.query(statement).then(
        () => {
          inFlight = undefined
          checkedOut.release()
          if (!abandoned) observer.complete()
        },
        (error: unknown) => {
          inFlight = undefined
          const failure = failureOf(error, true)
          checkedOut.release(failure.kind === 'rejected' ? undefined : new Error(`send ${failure.kind}`))
          if (!abandoned) observer.error(failure)
        },
      )
    },
    (error: unknown) => {
      if (!abandoned) observer.error(new SendFailure('unavailable', error))
    },
  )
  return () => {
    abandoned = true
    inFlight?.release(new Error('send abandoned'))
    inFlight = undefined
  }
}

/** How a failed statement ended, in the port's terms: SQLSTATE classes 08 and 57 are retryable. */
function sendFailureOf(error: unknown, dispatched: boolean): SendFailure {
  const { sqlState } = driverFacts(error, (text) => text)
  if (sqlState === undefined) return new SendFailure(dispatched ? 'interrupted' : 'unavailable', error)
  return new SendFailure(retryableSqlStateClasses.has(sqlState.slice(0, 2)) ? 'unavailable' : 'rejected', error)
}

interface Opening {
  readonly waiters: Set<Subscriber<PgConnection>>
  attempt: Subscription
}

/** The transport's own connection: opened when first needed, shared by concurrent sends, replaced when it breaks. */
class OwnConnection {
  private current: { readonly connection: PgConnection; readonly lifetime: Subscription } | undefined
  private opening: Opening | undefined
  private ended = false

  constructor(private readonly config: pg.ClientConfig) {}

  /** Emits a usable connection once. Unsubscribing gives up waiting; when the last waiter gives up, the attempt is abandoned. */
  connection(): Observable<PgConnection> {
    return new Observable<PgConnection>((subscriber) => {
      if (this.ended) return subscriber.error(new Error('the sending connection was ended'))
      if (this.current !== undefined) return subscriber.next(this.current.connection)
      const starting = this.opening === undefined
      const opening = (this.opening ??= { waiters: new Set(), attempt: new Subscription() })
      opening.waiters.add(subscriber)
      // Started once its first waiter is in: an attempt can fail at once (a connection string pg cannot parse).
      if (starting) this.open(opening)
      return () => {
        opening.waiters.delete(subscriber)
        if (opening.waiters.size > 0 || this.opening !== opening) return
        this.opening = undefined
        opening.attempt.unsubscribe()
      }
    })
  }

  async end(): Promise<void> {
    this.ended = true
    const opening = this.opening
    this.opening = undefined
    if (opening !== undefined) {
      opening.attempt.unsubscribe()
      for (const waiter of [...opening.waiters]) waiter.error(new Error('the sending connection was ended'))
    }
    const current = this.current
    this.current = undefined
    if (current === undefined) return
    await current.connection.end()
    current.lifetime.unsubscribe()
  }

  private open(opening: Opening): void {
    const settle = (report: (waiter: Subscriber<PgConnection>) => void) => {
      if (this.opening === opening) this.opening = undefined
      const waiters = [...opening.waiters]
      opening.waiters.clear()
      for (const waiter of waiters) report(waiter)
    }
    opening.attempt = PgConnection.open(this.config).subscribe({
      next: (connection) => {
        // The open subscription keeps the connection; unsubscribed, it ends it.
        const current = { connection, lifetime: opening.attempt }
        this.current = current
        current.lifetime.add(
          connection.broken$.subscribe({
            // Broken: forgotten, so that the next send opens a new one.
            error: () => {
              if (this.current !== current) return
              this.current = undefined
              current.lifetime.unsubscribe()
            },
          }),
        )
        settle((waiter) => waiter.next(connection))
      },
      error: (error: unknown) => settle((waiter) => waiter.error(error)),
    })
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
