import type { Socket } from 'node:net'
import pg from 'pg'
import { Observable } from 'rxjs'
import { socketOf } from './socket-of.js'

interface Job {
  readonly run: () => void
  started: boolean
  settled: boolean
}

/**
 * One `pg.Client` that rxpg owns: the listening connection and the sending one are each one of these.
 *
 * - **Opened as an Observable.** Unsubscribing ends it, at once: a server that accepted the TCP connection
 *   and never answered (or a stopped postmaster) must not keep a socket, and so the process, alive.
 * - **One query at a time.** pg still queues a query issued while another runs, but that queue is
 *   deprecated and goes in pg@9, so queries wait here instead. A query unsubscribed before it started is
 *   dropped; one unsubscribed while in flight destroys the connection, whose state is then unknown (pg has
 *   no way to cancel it on the same connection).
 * - **Ended without waiting on a silent server.** `end()` sends Terminate and closes the socket once that is
 *   written, instead of waiting for the server's answer (pg's own `end()` waits for ever on a frozen socket).
 */
export class PgConnection {
  /**
   * Opens a connection: emits it once it is ready (and stays subscribed while it is used); errors if it cannot
   * be opened. Unsubscribing destroys an attempt in progress, and ends an open connection.
   */
  static open(config: pg.ClientConfig): Observable<PgConnection> {
    return new Observable<PgConnection>((subscriber) => {
      const client = new pg.Client(config)
      let opened: PgConnection | undefined
      // Until the connection takes over: an 'error' event without a listener would crash the process.
      const ignore = () => undefined
      client.on('error', ignore)
      client.connect().then(
        () => {
          client.off('error', ignore)
          opened = new PgConnection(client)
          if (subscriber.closed) void opened.end()
          else subscriber.next(opened)
        },
        (error: unknown) => {
          socketOf(client)?.destroy()
          subscriber.error(error)
        },
      )
      return () => {
        if (opened) void opened.end()
        else socketOf(client)?.destroy()
      }
    })
  }

  private failure: unknown
  private readonly failureListeners = new Set<(error: unknown) => void>()
  private readonly jobs: Job[] = []
  private ending: Promise<void> | undefined

  private constructor(readonly client: pg.Client) {
    client.on('error', (error) => this.break(error))
    client.on('end', () => this.break(new Error('Connection ended')))
  }

  /** Backend process id of the connection. */
  get processId(): number {
    return (this.client as unknown as { processID: number }).processID
  }

  /** The socket, for listeners that note when it last received bytes. */
  get socket(): Socket | undefined {
    return socketOf(this.client)
  }

  /** Errors (and never emits) once the connection is broken or ended. */
  readonly broken$ = new Observable<never>((subscriber) => {
    if (this.failure !== undefined) return subscriber.error(this.failure)
    const listener = (error: unknown) => subscriber.error(error)
    this.failureListeners.add(listener)
    return () => void this.failureListeners.delete(listener)
  })

  /**
   * Runs one query after those before it. Emits the result and completes, or errors with pg's error.
   * `onDispatch` is called when the query is handed to pg (from then on its outcome is unknown if the
   * connection breaks).
   */
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(
    config: string | pg.QueryConfig,
    onDispatch?: () => void,
  ): Observable<pg.QueryResult<Row>> {
    return new Observable<pg.QueryResult<Row>>((subscriber) => {
      const job: Job = {
        started: false,
        settled: false,
        run: () => {
          job.started = true
          if (this.failure !== undefined) return this.settle(job, () => subscriber.error(this.failure))
          onDispatch?.()
          this.client.query<Row>(config).then(
            (result) =>
              this.settle(job, () => {
                subscriber.next(result)
                subscriber.complete()
              }),
            (error: unknown) => {
              // Anything but a plain statement error (a lost socket, a FATAL) leaves the connection unusable:
              // known as broken now, not only when pg gets round to its 'end' event.
              if ((error as { severity?: unknown }).severity !== 'ERROR') this.break(error)
              this.settle(job, () => subscriber.error(error))
            },
          )
        },
      }
      this.jobs.push(job)
      this.runNext()
      return () => {
        if (job.settled) return
        if (!job.started) {
          this.jobs.splice(this.jobs.indexOf(job), 1)
          return
        }
        // Abandoned in flight: nobody knows what the connection will answer next, so it goes. After the
        // current call returns: whoever abandoned it (a time-out) reports its own reason first.
        queueMicrotask(() => this.destroy())
      }
    })
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.break(new Error('Connection destroyed by rxpg'))
    this.socket?.destroy()
  }

  /** Sends Terminate and closes the socket once it is written; resolves when the socket is closed. Idempotent. */
  end(): Promise<void> {
    this.ending ??= new Promise<void>((resolve) => {
      const socket = this.socket
      if (socket === undefined || socket.destroyed) return resolve()
      socket.once('close', () => resolve())
      const busy = this.jobs.some((job) => job.started && !job.settled)
      this.break(new Error('Connection ended by rxpg'))
      if (busy) return void socket.destroy()
      // pg writes Terminate, then ends its side; the server's answer is not waited for.
      socket.once('finish', () => socket.destroy())
      this.client.end().catch(() => undefined)
    })
    return this.ending
  }

  private runNext(): void {
    const next = this.jobs[0]
    if (next !== undefined && !next.started) next.run()
  }

  private settle(job: Job, report: () => void): void {
    job.settled = true
    this.jobs.shift()
    report()
    this.runNext()
  }

  private break(error: unknown): void {
    if (this.failure !== undefined) return
    this.failure = error
    for (const listener of [...this.failureListeners]) listener(error)
    this.failureListeners.clear()
  }
}

