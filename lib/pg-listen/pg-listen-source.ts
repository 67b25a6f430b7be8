import { randomUUID } from 'node:crypto'
import { Observable, Subject, defer, filter, from, ignoreElements, map, merge, mergeMap, of, take, tap, throwError } from 'rxjs'
import { SerialQueue } from './serial-queue.js'
import type { ListenSession, NotificationSource, RawNotification } from '../ports/notification-source.js'

/** A notification as pg-listen emits it: the payload already went through its `parse` option. */
export interface PgListenNotification {
  readonly processId: number
  readonly channel: string
  readonly payload?: unknown
}

/**
 * The part of a pg-listen `Subscriber` (`createSubscriber(...)` from the `pg-listen` package) that the adapter
 * uses. Typed by shape, so rxpg does not need pg-listen at runtime.
 */
export interface PgListenSubscriber {
  readonly events: {
    on(event: 'notification', listener: (notification: PgListenNotification) => void): unknown
    on(event: 'error', listener: (error: Error) => void): unknown
    on(event: 'reconnect', listener: (attempt: number) => void): unknown
    on(event: 'connected', listener: () => void): unknown
    removeListener(event: 'notification', listener: (notification: PgListenNotification) => void): unknown
    removeListener(event: 'error', listener: (error: Error) => void): unknown
    removeListener(event: 'reconnect', listener: (attempt: number) => void): unknown
    removeListener(event: 'connected', listener: () => void): unknown
  }
  listenTo(channel: string): Promise<unknown> | undefined
  unlisten(channel: string): Promise<unknown> | undefined
  notify(channel: string, payload?: unknown): Promise<unknown>
  getSubscribedChannels(): string[]
}

export interface PgListenSourceOptions {
  /**
   * The channel of the adapter's round trips (it learns the backend's process id and checks the connection
   * by sending itself an empty notification there). Default: `rxpg_probe_` and a random UUID.
   */
  readonly probeChannel?: string | undefined
}

/** pg-listen's own words when it stops reconnecting for good (retryTimeout or retryLimit reached). */
const gaveUpMessage = /Stopping PostgreSQL reconnection attempts|Reconnecting notification client to PostgreSQL database failed/
/** pg-listen's words when its `parse` option threw: the notification is lost, the connection is fine. */
const parseFailedMessage = /^Error parsing PostgreSQL notification payload/

type Link = 'unknown' | 'up' | 'reconnecting' | 'gave-up'

/** Runs one of pg-listen's query methods (which return undefined when there is nothing to do) in turn. */
type Query = (job: () => Promise<unknown> | undefined) => Promise<unknown>

/**
 * Turns an existing pg-listen subscriber into a `NotificationSource`, so code that already connects with
 * pg-listen gets rxpg's channels, operators and `state$` without changing how it connects:
 *
 * ```ts
 * const subscriber = createSubscriber({ connectionString }, { parse: (text) => text, retryTimeout: 0 })
 * await subscriber.connect()
 * const db = createPgListener({ connectionString }, { source: pgListenSource(subscriber) }) // from 'rxpg/pg-listen'

 * ```
 *
 * pg-listen keeps one connection and reconnects it itself; the adapter maps that onto the port honestly
 * (see docs/pg-listen-adapter.md):
 * - `'reconnect'` (pg-listen lost its connection) ends the current session: `state$` shows `reconnecting`,
 *   and the listener's `connect()` then waits for pg-listen's `'connected'`. It cannot make pg-listen
 *   reconnect sooner, nor replace a connection pg-listen still believes in.
 * - An `'error'` saying pg-listen gave up (its `retryTimeout`, 3 s by default, or `retryLimit`) makes every
 *   later `connect()` fail with that error: `state$` stays `reconnecting` and says so in `lastError`. A
 *   given-up subscriber never recovers; create a new one. Pass `retryTimeout: 0` to pg-listen to retry forever.
 * - Payloads arrive through pg-listen's `parse` (JSON.parse by default): create the subscriber with
 *   `parse: (text) => text` to get them exactly. Otherwise a string is taken as is and anything else is
 *   JSON.stringify-ed again (not byte-exact), and a payload that is not JSON is lost (pg-listen emits an
 *   error instead of the notification).
 * - The adapter attaches an `'error'` listener, so pg-listen's errors no longer crash the process: they show
 *   on `state$`.
 * - The session's process id and the health check come from a round trip: an empty NOTIFY on a private probe
 *   channel, received back. The LISTEN set is pg-listen's own record (`getSubscribedChannels()`), not the
 *   server's `pg_listening_channels()`, which pg-listen cannot run.
 * - `end()` UNLISTENs rxpg's channels and leaves the connection to its owner: `close()` never closes the
 *   pg-listen subscriber.
 */
export function pgListenSource(subscriber: PgListenSubscriber, options: PgListenSourceOptions = {}): NotificationSource {
  const probeChannel = options.probeChannel ?? `rxpg_probe_${randomUUID()}`
  let link: Link = 'unknown'
  let gaveUp: Error | undefined
  const linkChanged$ = new Subject<void>()
  const notifications$ = new Subject<RawNotification>()
  const probes$ = new Subject<number>()
  const losses$ = new Subject<Error>()
  /**
   * Who LISTENs what on pg-listen's one connection (pg-listen keeps one LISTEN per channel, not a count):
   * `held`, how many of rxpg's sessions LISTENed a channel and have not UNLISTENed it yet (the health check
   * compares only these, leaving the application's own pg-listen channels alone); `applications`, channels the
   * application had LISTENed itself before rxpg asked for them, which rxpg does not UNLISTEN.
   */
  const owners: ChannelOwners = { held: new Map(), applications: new Set() }
  /**
   * The adapter's own queries on pg-listen's connection go one at a time (see SerialQueue); pg-listen's
   * re-LISTENs after its reconnects and its paranoid checks are its own business.
   */
  const queries = new SerialQueue()
  const query: Query = (job) => queries.run(async () => job())

  const setLink = (next: Link) => {
    link = next
    linkChanged$.next()
  }

  const onNotification = (notification: PgListenNotification) => {
    if (notification.channel === probeChannel) return probes$.next(notification.processId)
    notifications$.next({ channel: notification.channel, payload: payloadText(notification.payload), processId: notification.processId })
  }
  const onReconnect = (attempt: number) => {
    if (link === 'reconnecting') return
    setLink('reconnecting')
    losses$.next(codedError('PG_LISTEN_RECONNECTING', `pg-listen lost its connection and is reconnecting (attempt ${attempt})`))
  }
  const onConnected = () => setLink('up')
  const onError = (error: Error) => {
    if (parseFailedMessage.test(error.message)) return
    if (gaveUpMessage.test(error.message)) {
      gaveUp = codedError('PG_LISTEN_GAVE_UP', `pg-listen stopped reconnecting and will not recover (${error.message}); create a new subscriber`)
      setLink('gave-up')
      losses$.next(gaveUp)
      return
    }
    // Reconnected, but LISTENing again failed: pg-listen retries on the next connection error only.
    setLink('unknown')
    losses$.next(codedError('PG_LISTEN_ERROR', error.message))
  }
  subscriber.events.on('notification', onNotification)
  subscriber.events.on('reconnect', onReconnect)
  subscriber.events.on('connected', onConnected)
  subscriber.events.on('error', onError)

  /** Completes once pg-listen has a connection it believes in; errors if it gave up for good. */
  const usable = (): Observable<unknown> =>
    defer(() => {
      if (link === 'gave-up') return throwError(() => gaveUp)
      if (link !== 'reconnecting') return of(true)
      return linkChanged$.pipe(
        filter(() => link !== 'reconnecting'),
        take(1),
        mergeMap(() => usable()),
      )
    })

  const lost = losses$.pipe(mergeMap((error) => throwError(() => error)))

  /** A round trip on pg-listen's connection: an empty NOTIFY to the probe channel, received back. Emits the backend's pid. */
  const probe = (): Observable<number> =>
    defer(() => {
      const listening = query(() => subscriber.listenTo(probeChannel))
      const arrival = probes$.pipe(take(1))
      const sent = defer(() => from(listening)).pipe(
        mergeMap(() => from(query(() => subscriber.notify(probeChannel)))),
        ignoreElements(),
      )
      // Listen for the arrival before sending: the notification can come before the NOTIFY's own answer.
      return merge(arrival, sent, lost).pipe(take(1))
    })

  return {
    connect: (clock) =>
      new Observable<ListenSession>((observer) => {
        let session: PgListenSession | undefined
        const subscription = usable()
          .pipe(
            take(1),
            mergeMap(() => probe()),
          )
          .subscribe({
            next: (processId) => {
              session = new PgListenSession(processId, subscriber, query, notifications$, lost, probe, probeChannel, owners, clock)
              observer.next(session)
            },
            error: (error: unknown) => observer.error(error),
          })
        return () => {
          subscription.unsubscribe()
          void session?.end()
        }
      }),
    // The subscriber goes back to the application as it came: without rxpg's listeners on its events (so its
    // errors reach the application's own handling again) and without the probe channel's LISTEN.
    close: async () => {
      subscriber.events.removeListener('notification', onNotification)
      subscriber.events.removeListener('reconnect', onReconnect)
      subscriber.events.removeListener('connected', onConnected)
      subscriber.events.removeListener('error', onError)
      // Answered before the listener's close() resolves (at most notify.closeTimeout), as end()'s UNLISTENs.
      if (subscriber.getSubscribedChannels().includes(probeChannel)) await query(() => subscriber.unlisten(probeChannel)).catch(() => undefined)
    },
  }
}

interface ChannelOwners {
  readonly held: Map<string, number>
  readonly applications: Set<string>
}

function release(held: Map<string, number>, channel: string): void {
  const count = (held.get(channel) ?? 1) - 1
  if (count > 0) held.set(channel, count)
  else held.delete(channel)
}

class PgListenSession implements ListenSession {
  readonly notifications: Observable<RawNotification>
  /** The channels this session LISTENed through pg-listen: UNLISTENed again by `end()`. */
  private readonly mine = new Set<string>()
  /** end()'s outcome: every call gets the same. */
  private ending: Promise<void> | undefined
  private lastReceived: number

  constructor(
    readonly processId: number,
    private readonly subscriber: PgListenSubscriber,
    private readonly query: Query,
    notifications$: Observable<RawNotification>,
    lost: Observable<never>,
    private readonly probe: () => Observable<number>,
    private readonly probeChannel: string,
    private readonly owners: ChannelOwners,
    private readonly clock: () => number,
  ) {
    this.lastReceived = clock()
    this.notifications = merge(notifications$.pipe(tap(() => this.received())), lost)
  }

  private received(): void {
    this.lastReceived = this.clock()
  }

  lastReceivedAt(): number {
    return this.lastReceived
  }

  changeListens(add: readonly string[], remove: readonly string[]): Observable<unknown> {
    return defer(() => {
      const confirmations: Array<Promise<unknown> | undefined> = []
      for (const channel of remove) {
        this.mine.delete(channel)
        confirmations.push(this.unlisten(channel))
      }
      for (const channel of add) {
        // Not held by rxpg: decided afresh. LISTENed already, it is the application's own, which rxpg will leave
        // LISTENed; not LISTENed (the application let it go, if it ever had it), it is rxpg's alone.
        if (!this.owners.held.has(channel)) {
          if (this.subscriber.getSubscribedChannels().includes(channel)) this.owners.applications.add(channel)
          else this.owners.applications.delete(channel)
        }
        this.owners.held.set(channel, (this.owners.held.get(channel) ?? 0) + 1)
        this.mine.add(channel)
        confirmations.push(this.query(() => this.subscriber.listenTo(channel)))
      }
      return from(Promise.all(confirmations)).pipe(tap(() => this.received()))
    })
  }

  listeningChannels(): Observable<readonly string[]> {
    return this.probe().pipe(
      tap(() => this.received()),
      // rxpg's channels are the ones its sessions hold: an application's channel that rxpg let go is not one.
      map(() => this.subscriber.getSubscribedChannels().filter((channel) => channel !== this.probeChannel && this.owners.held.has(channel))),
    )
  }

  /**
   * UNLISTENs this session's channels and forgets them, so that pg-listen does not LISTEN them again after its
   * next reconnect: the listener LISTENs what is still wanted on its next session. Never closes the connection.
   * Resolves once the UNLISTENs are answered, so that a channel the application LISTENs to once the listener's
   * `close()` resolved is not UNLISTENed after it; on a dead connection they are never answered, and the
   * listener's `close()` waits at most `notify.closeTimeout` for them.
   */
  end(): Promise<void> {
    if (this.ending === undefined) {
      const unlistens = [...this.mine].map((channel) => this.unlisten(channel).catch(() => undefined))
      this.mine.clear()
      this.ending = Promise.all(unlistens).then(() => undefined)
    }
    return this.ending
  }

  /** UNLISTENs one of rxpg's channels, unless the application LISTENs it too. Held until the UNLISTEN is done. */
  private unlisten(channel: string): Promise<unknown> {
    if (this.owners.applications.has(channel)) {
      release(this.owners.held, channel)
      return Promise.resolve()
    }
    return this.query(() => this.subscriber.unlisten(channel)).finally(() => release(this.owners.held, channel))
  }
}

function payloadText(payload: unknown): string {
  if (typeof payload === 'string') return payload
  if (payload === undefined) return ''
  return JSON.stringify(payload)
}

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}
