import { NEVER, Observable, Subject, defer, map, merge, of, tap } from 'rxjs'
import type { ListenSession, NotificationSource, RawNotification } from '../sources/notification-source.js'

/**
 * How one connection behaves once it is open. Every answer is an Observable, so draw it with `cold(...)`:
 * `() => cold('--(a|)')` confirms after two frames, `() => cold('-#')` fails, `() => NEVER` hangs.
 */
export interface VirtualSessionScript {
  /** Backend process id of the connection. Default: 100 + the number of the `connect()` that opened it. */
  readonly processId?: number
  /**
   * What arrives on the connection (`hot(...)` for absolute frames, `cold(...)` from the moment the listener
   * subscribes). Erroring or completing is the connection being lost. Default: nothing, never lost.
   */
  readonly notifications?: Observable<RawNotification>
  /** The server's answer to one LISTEN/UNLISTEN batch. Default: confirmed in the same frame. */
  readonly changeListens?: (add: readonly string[], remove: readonly string[]) => Observable<unknown>
  /**
   * The server's answer to `pg_listening_channels()`; `listened` is what the confirmed batches left the
   * connection listening to. Default: `listened`, in the same frame.
   */
  readonly listeningChannels?: (listened: readonly string[]) => Observable<readonly string[]>
  /**
   * The server's answer to a NOTIFY sent on this connection. Default: confirmed in the same frame, and the
   * notification is delivered on this connection when it listens to the channel.
   */
  readonly notifySelf?: (channel: string, payload: string) => Observable<unknown>
}

/** One LISTEN/UNLISTEN batch a connection was asked to run. */
export interface ListenBatch {
  readonly processId: number
  readonly add: readonly string[]
  readonly remove: readonly string[]
}

/** A `NotificationSource` whose every answer is drawn, and which records what it was asked, frame by frame. */
export interface VirtualSource extends NotificationSource {
  /** One value per `connect()` subscription: its number, from 1. */
  readonly connects$: Observable<number>
  /** One value per LISTEN/UNLISTEN batch, in the frame it was sent. */
  readonly listens$: Observable<ListenBatch>
  /** One value (the connection's process id) per `listeningChannels()` call: the health checks. */
  readonly healthChecks$: Observable<number>
  /** One value (the process id) per connection closed by the listener. */
  readonly ends$: Observable<number>
}

/**
 * A `NotificationSource` for lifecycle marbles: `connects[n]` is what the n-th `connect()` does (the last one
 * answers every later call): an Observable that emits a session script when the connection is ready, or errors
 * when it cannot be opened. Draw it with `cold`: `cold('--s', { s: {} })` connects after two frames,
 * `cold('-#', undefined, refused)` fails after one, `NEVER` hangs until the connect time-out.
 *
 * ```ts
 * const source = virtualSource([cold('-#', undefined, refused), cold('-s', { s: { processId: 7 } })])
 * const db = createPgListener('postgres://virtual', { source, scheduler })
 * ```
 *
 * Hot: subscribe to the records (`expectObservable`) before the first connect.
 */
export function virtualSource(
  connects: readonly Observable<VirtualSessionScript>[] | ((attempt: number) => Observable<VirtualSessionScript>),
): VirtualSource {
  const connects$ = new Subject<number>()
  const listens$ = new Subject<ListenBatch>()
  const healthChecks$ = new Subject<number>()
  const ends$ = new Subject<number>()
  const records = { listens$, healthChecks$, ends$ }
  let attempts = 0

  const attemptFor = (attempt: number): Observable<VirtualSessionScript> => {
    if (typeof connects === 'function') return connects(attempt)
    const drawn = connects[Math.min(attempt, connects.length) - 1]
    if (drawn === undefined) throw new TypeError('virtualSource: give at least one connect() answer')
    return drawn
  }

  return {
    connect: () =>
      new Observable<ListenSession>((subscriber) => {
        attempts += 1
        const attempt = attempts
        connects$.next(attempt)
        let session: VirtualSession | undefined
        const subscription = attemptFor(attempt)
          .pipe(map((script) => (session = new VirtualSession(script.processId ?? 100 + attempt, script, records))))
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
  }
}

class VirtualSession implements ListenSession {
  readonly notifications: Observable<RawNotification>
  private readonly listened = new Set<string>()
  private readonly self$ = new Subject<RawNotification>()
  private ended = false

  constructor(
    readonly processId: number,
    private readonly script: VirtualSessionScript,
    private readonly records: { listens$: Subject<ListenBatch>; healthChecks$: Subject<number>; ends$: Subject<number> },
  ) {
    this.notifications = merge(script.notifications ?? NEVER, this.self$)
  }

  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown> {
    return defer(() => {
      this.records.listens$.next({ processId: this.processId, add: [...add], remove: [...remove] })
      return (this.script.changeListens?.(add, remove) ?? of(true)).pipe(
        tap({
          complete: () => {
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
      return this.script.listeningChannels?.(listened) ?? of(listened)
    })
  }

  notifySelf(channel: string, payload: string): Observable<unknown> {
    return defer(() =>
      (this.script.notifySelf?.(channel, payload) ?? of(true)).pipe(
        tap({
          complete: () => {
            if (this.script.notifySelf === undefined && this.listened.has(channel)) this.self$.next({ channel, payload, processId: this.processId })
          },
        }),
      ),
    )
  }

  end(): Promise<void> {
    if (!this.ended) {
      this.ended = true
      this.records.ends$.next(this.processId)
    }
    return Promise.resolve()
  }
}
