import { NEVER, Observable, Subject, defer, map, merge, of, share, tap } from 'rxjs'
import type { ListenSession, NotificationSource, RawNotification } from '../ports/notification-source.js'
import { VIRTUAL_SENDER_PROCESS_ID, virtualTransport, type VirtualTransport, type VirtualTransportOptions } from './virtual-transport.js'

/**
 * How one connection behaves once it is open. Every answer is an Observable, so draw it with `cold(...)`:
 * `() => cold('--(a|)')` confirms after two frames, `() => cold('-#')` fails, `() => NEVER` hangs.
 */
export interface VirtualSessionScript {
  /** Backend process id of the connection. Default: 100 + the number of the `connect()` that opened it. */
  readonly processId?: number | undefined
  /**
   * What arrives on the connection (`hot(...)` for absolute frames, `cold(...)` from the moment the listener
   * subscribes). Erroring or completing is the connection being lost. Default: nothing, never lost. What the
   * source's `transport` commits to a channel this connection listens to arrives too.
   */
  readonly notifications?: Observable<RawNotification> | undefined
  /** The server's answer to one LISTEN/UNLISTEN batch. Default: confirmed in the same frame. */
  readonly changeListens?: ((add: readonly string[], remove: readonly string[]) => Observable<unknown>) | undefined
  /**
   * The server's answer to `pg_listening_channels()`; `listened` is what the confirmed batches left the
   * connection listening to. Default: `listened`, in the same frame.
   */
  readonly listeningChannels?: ((listened: readonly string[]) => Observable<readonly string[]>) | undefined
}

/** One LISTEN/UNLISTEN batch a connection was asked to run. */
export interface ListenBatch {
  readonly processId: number
  readonly add: readonly string[]
  readonly remove: readonly string[]
}

/** How the source's sending side behaves. */
export interface VirtualSendingOptions extends VirtualTransportOptions {
  /**
   * `false`: what the transport commits never reaches the connections, as behind a transaction-mode pooler
   * (the self-probe then ends in `DeliveryBrokenError`). Default `true`.
   */
  readonly delivers?: boolean | undefined
}

/** A drawn server: connections for the listening side, a transport for the sending side, and records of both. */
export interface VirtualSource extends NotificationSource {
  /** One value per `connect()` subscription: its number, from 1. */
  readonly connects$: Observable<number>
  /** One value per LISTEN/UNLISTEN batch, in the frame it was sent. */
  readonly listens$: Observable<ListenBatch>
  /** One value (the connection's process id) per `listeningChannels()` call: the health checks. */
  readonly healthChecks$: Observable<number>
  /** One value (the process id) per connection closed by the listener. */
  readonly ends$: Observable<number>
  /**
   * The sending side, for `createPgListener`'s `transport` option: a `virtualTransport` whose committed
   * notifications (the self-probe's included) are delivered to every open connection that listens to their
   * channel, in the frame they commit, as PostgreSQL does.
   */
  readonly transport: VirtualTransport
}

const NO_CONNECTS = 'virtualSource: give at least one connect() answer (an Observable per attempt, or a function of the attempt)'

/**
 * A `NotificationSource` for lifecycle marbles: `connects[n]` is what the n-th `connect()` does (the last one
 * answers every later call): an Observable that emits a session script when the connection is ready, or errors
 * when it cannot be opened. Draw it with `cold`: `cold('--s', { s: {} })` connects after two frames,
 * `cold('-#', undefined, refused)` fails after one, `NEVER` hangs until the connect time-out.
 *
 * ```ts
 * const source = virtualSource([cold('-#', undefined, refused), cold('-s', { s: { processId: 7 } })])
 * const db = createPgListener('postgres://virtual', { source, transport: source.transport, scheduler })
 * ```
 *
 * Hot: subscribe to the records (`expectObservable`) before the first connect.
 *
 * @param sending How the `transport`'s sends end (see `virtualTransport`; default: committed at once), and
 *   whether what it commits is delivered.
 */
export function virtualSource(
  connects: readonly Observable<VirtualSessionScript>[] | ((attempt: number) => Observable<VirtualSessionScript>),
  sending: VirtualSendingOptions = {},
): VirtualSource {
  if (typeof connects !== 'function' && connects.length === 0) throw new TypeError(NO_CONNECTS)
  const connects$ = new Subject<number>()
  const listens$ = new Subject<ListenBatch>()
  const healthChecks$ = new Subject<number>()
  const ends$ = new Subject<number>()
  const records = { listens$, healthChecks$, ends$ }
  const open = new Set<VirtualSession>()
  const transport = virtualTransport(sending)
  const senderProcessId = sending.processIds?.[0] ?? VIRTUAL_SENDER_PROCESS_ID
  transport.committed$.subscribe((batch) => {
    if (sending.delivers === false) return
    for (const { channel, payload } of batch) for (const session of open) session.deliver({ channel, payload, processId: senderProcessId })
  })
  let attempts = 0

  const attemptFor = (attempt: number): Observable<VirtualSessionScript> => {
    if (typeof connects === 'function') return connects(attempt)
    const drawn = connects[Math.min(attempt, connects.length) - 1]
    if (drawn === undefined) throw new TypeError(NO_CONNECTS)
    return drawn
  }

  return {
    connect: (clock) =>
      new Observable<ListenSession>((subscriber) => {
        attempts += 1
        const attempt = attempts
        connects$.next(attempt)
        let session: VirtualSession | undefined
        const subscription = attemptFor(attempt)
          .pipe(
            map((script) => {
              session = new VirtualSession(script.processId ?? 100 + attempt, script, clock, records, () => open.delete(session as VirtualSession))
              open.add(session)
              return session
            }),
          )
          .subscribe(subscriber)
        return () => {
          subscription.unsubscribe()
          void session?.end()
        }
      }),
    connects$: connects$.asObservable(),
    listens$: listens$.asObservable(),
    healthChecks$: healthChecks$.asObservable(),
    ends$: ends$.asObservable(),
    transport,
  }
}

class VirtualSession implements ListenSession {
  readonly notifications: Observable<RawNotification>
  private readonly listened = new Set<string>()
  private readonly delivered$ = new Subject<RawNotification>()
  private lastReceived: number
  private ended = false

  constructor(
    readonly processId: number,
    private readonly script: VirtualSessionScript,
    private readonly clock: () => number,
    private readonly records: { listens$: Subject<ListenBatch>; healthChecks$: Subject<number>; ends$: Subject<number> },
    private readonly closed: () => void,
  ) {
    this.lastReceived = clock()
    // Shared: the listener and its self-probe watch the same connection.
    this.notifications = merge(script.notifications ?? NEVER, this.delivered$).pipe(
      tap(() => this.received()),
      share(),
    )
  }

  /** A notification the source's transport committed: it arrives if this connection listens to its channel. */
  deliver(notification: RawNotification): void {
    if (!this.ended && this.listened.has(notification.channel)) this.delivered$.next(notification)
  }

  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown> {
    return defer(() => {
      this.records.listens$.next({ processId: this.processId, add: [...add], remove: [...remove] })
      return (this.script.changeListens?.(add, remove) ?? of(true)).pipe(
        tap({
          complete: () => {
            this.received()
            for (const channel of remove) this.listened.delete(channel)
            for (const channel of add) this.listened.add(channel)
          },
        }),
      )
    })
  }

  listeningChannels(): Observable<readonly string[]> {
    return defer(() => {
      this.records.healthChecks$.next(this.processId)
      const listened = [...this.listened]
      return (this.script.listeningChannels?.(listened) ?? of(listened)).pipe(tap(() => this.received()))
    })
  }

  lastReceivedAt(): number {
    return this.lastReceived
  }

  end(): Promise<void> {
    if (!this.ended) {
      this.ended = true
      this.closed()
      this.records.ends$.next(this.processId)
    }
    return Promise.resolve()
  }

  private received(): void {
    this.lastReceived = this.clock()
  }
}
