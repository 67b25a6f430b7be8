import { EMPTY, Subscription, exhaustMap, interval, map, throwError, timeout, type Observable, type SchedulerLike } from 'rxjs'
import { ConnectionLostError, ConnectionRejectedError, DeliveryBrokenError } from '../errors.js'
import { SendFailure } from '../notify/notify-transport.js'
import type { ListenerGap, ListenerState } from '../types.js'
import type { ListenSession, NotificationSource, RawNotification } from '../sources/notification-source.js'
import { backoffDelay, type BackoffOptions } from './backoff.js'

export interface HealthCheckOptions {
  /** Time between checks while connected, in ms. Default 30000. */
  readonly interval?: number
  /** How long one check may take before the connection is taken for dead, in ms. Default 5000. */
  readonly timeout?: number
}

export interface ListenerConnectionOptions {
  readonly scheduler: SchedulerLike
  readonly backoff: BackoffOptions
  /** How long one connection attempt may take, in ms. */
  readonly connectTimeout: number
  readonly healthCheck: Required<HealthCheckOptions> | false
  readonly classify: (error: unknown) => ConnectionRejectedError | ConnectionLostError
  /**
   * Confirms on every new connection that notifications are delivered: the listener LISTENs to a private
   * channel and `send`s one notification to it through ANOTHER connection (the sending one, through the same
   * pooler if any), which must arrive within `timeout` ms. A probe sent on the listening connection itself would
   * pass behind a transaction-mode pooler, which hands one client the same server connection back.
   */
  readonly selfProbe: SelfProbe | false
}

export interface SelfProbe {
  readonly channel: string
  readonly timeout: number
  send(channel: string, payload: string): Observable<unknown>
}

export interface ListenerConnectionEvents {
  /** Called for every notification, in delivery order: the hot path. */
  deliver(notification: RawNotification): void
  state(state: ListenerState): void
  /** The server refused the connection, or delivery, for good: the listener stops. */
  failed(error: ConnectionRejectedError | DeliveryBrokenError): void
}

type ListenChange = 'listen' | 'unlisten'

/**
 * The one listening connection: connects when the first channel is wanted, keeps PostgreSQL's LISTEN set equal
 * to the set of wanted channels, reconnects with back-off after any transient failure and LISTENs again to
 * everything still wanted.
 *
 * LISTEN/UNLISTEN changes run one batch at a time. `serverSet` is what PostgreSQL will listen to once the batch
 * in flight succeeds, and `pending` is the difference still to send, so a subscribe or unsubscribe made while a
 * batch is in flight is neither lost nor sent twice, and the work per change is O(1).
 */
export class ListenerConnection {
  private status: ListenerState['status'] = 'idle'
  private readonly wanted = new Set<string>()
  private serverSet = new Set<string>()
  private readonly pending = new Map<string, ListenChange>()
  private changeInFlight = false
  private changesStarted = 0
  private session: ListenSession | undefined
  private sessionSubscription = new Subscription()
  private retryTimer: Subscription | undefined
  /** Failed attempts since the last successful connection: picks the back-off delay. */
  private retries = 0
  private lostAt: number | undefined
  private settledWaiters: Array<() => void> = []
  /** The payload of the probe this session waits for; undefined when none is in flight. */
  private probeToken: string | undefined
  private probesSent = 0
  private probeTimer: Subscription | undefined

  constructor(
    private readonly source: NotificationSource,
    private readonly options: ListenerConnectionOptions,
    private readonly events: ListenerConnectionEvents,
  ) {}

  /** A channel got its first subscriber. */
  want(channel: string): void {
    this.wanted.add(channel)
    if (this.serverSet.has(channel)) this.pending.delete(channel)
    else this.pending.set(channel, 'listen')
    if (this.status === 'idle') this.connect()
    else this.applyPending()
  }

  /** A channel lost its last subscriber. */
  unwant(channel: string): void {
    this.wanted.delete(channel)
    if (this.serverSet.has(channel)) this.pending.set(channel, 'unlisten')
    else this.pending.delete(channel)
    this.applyPending()
    // The last channel gone while reconnecting: sends no longer need to wait.
    this.releaseSettledWaiters()
  }

  /**
   * False when every LISTEN asked for so far is in effect; otherwise true,
   * and `then` is called once they are. The notify$ sink waits on it, so a notification sent by this process
   * after it subscribed to a channel is received by that subscription.
   */
  whenSettled(then: () => void): boolean {
    if (this.isSettled()) return false
    this.settledWaiters.push(then)
    return true
  }

  /** The channels PostgreSQL listens to once everything in flight has succeeded: for tests and health checks. */
  get listenedChannels(): ReadonlySet<string> {
    return this.serverSet
  }

  async close(): Promise<void> {
    if (this.status === 'closed') return
    const session = this.session
    this.stopSession()
    this.status = 'closed'
    this.releaseSettledWaiters()
    this.events.state({ status: 'closed' })
    await session?.end()
  }

  private connect(): void {
    this.setState({ status: 'connecting', attempt: Math.max(1, this.retries) })
    const { scheduler, connectTimeout } = this.options
    const subscription = new Subscription()
    this.sessionSubscription = subscription
    subscription.add(
      this.source
        .connect()
        .pipe(
          timeout({
            first: connectTimeout,
            scheduler,
            with: () => throwError(() => new ConnectionLostError({ errorCode: 'ETIMEDOUT', detail: `no connection within ${connectTimeout} ms` })),
          }),
        )
        .subscribe({
          next: (session) => this.onSession(session, subscription),
          error: (error: unknown) => this.onFailure(error),
        }),
    )
  }

  private onSession(session: ListenSession, subscription: Subscription): void {
    this.session = session
    this.serverSet = new Set()
    this.pending.clear()
    for (const channel of this.wanted) this.pending.set(channel, 'listen')
    const probe = this.options.selfProbe
    if (probe) this.pending.set(probe.channel, 'listen')
    const deliver = this.events.deliver
    const probeChannel = probe ? probe.channel : undefined
    subscription.add(
      session.notifications.subscribe({
        next: probeChannel === undefined ? deliver : (notification) => (notification.channel === probeChannel ? this.onProbe(session, notification.payload) : deliver(notification)),
        error: (error: unknown) => this.onFailure(error),
        complete: () => this.onFailure(new ConnectionLostError({ detail: 'the connection ended' })),
      }),
    )
    this.applyPending()
  }

  /** Sends the pending LISTEN/UNLISTEN changes as one batch, unless one is in flight (it calls back when done). */
  private applyPending(): void {
    const session = this.session
    if (session === undefined || this.changeInFlight) return
    if (this.pending.size === 0) {
      if (this.status === 'connecting' && this.probeToken === undefined) this.startProbe(session)
      this.releaseSettledWaiters()
      return
    }
    const add: string[] = []
    const remove: string[] = []
    for (const [channel, change] of this.pending) {
      if (change === 'listen') {
        add.push(channel)
        this.serverSet.add(channel)
      } else {
        remove.push(channel)
        this.serverSet.delete(channel)
      }
    }
    this.pending.clear()
    this.changeInFlight = true
    this.changesStarted += 1
    this.sessionSubscription.add(
      session.changeListens(add, remove).subscribe({
        error: (error: unknown) => this.onFailure(readOnlyServer(error) ?? error),
        complete: () => {
          if (this.session !== session) return
          this.changeInFlight = false
          this.applyPending()
        },
      }),
    )
  }

  /** Sends the probe (or, without one, declares the session connected). */
  private startProbe(session: ListenSession): void {
    const probe = this.options.selfProbe
    if (probe === false) {
      this.onListening(session)
      return
    }
    // Digits only: the payload must survive a source that JSON-parses and re-serialises (pg-listen's default).
    const token = String(session.processId * 1_000_000 + ++this.probesSent)
    this.probeToken = token
    const { timeout: limit } = probe
    this.probeTimer = this.options.scheduler.schedule(() => {
      if (this.session !== session || this.probeToken !== token) return
      this.fail(
        new DeliveryBrokenError({
          reason: 'probe-not-delivered',
          detail: `a NOTIFY sent through the sending connection did not reach the listening connection within ${limit} ms`,
        }),
      )
    }, limit)
    this.sessionSubscription.add(this.probeTimer)
    this.sessionSubscription.add(
      probe.send(probe.channel, token).subscribe({
        error: (error: unknown) => {
          if (this.session !== session) return
          if (error instanceof SendFailure && error.kind === 'rejected') {
            const { code } = (error.original ?? {}) as { code?: unknown }
            const classified = this.options.classify(error.original)
            this.fail(
              new DeliveryBrokenError({
                reason: 'notify-refused',
                ...(typeof code === 'string' ? { sqlState: code } : {}),
                detail: classified instanceof ConnectionLostError ? classified.info.detail : classified.info.serverMessage,
              }),
            )
          } else {
            this.onFailure(error instanceof SendFailure ? error.original : error)
          }
        },
      }),
    )
  }

  private onProbe(session: ListenSession, payload: string): void {
    if (this.session !== session || this.probeToken !== payload || this.status !== 'connecting') return
    this.probeTimer?.unsubscribe()
    this.probeTimer = undefined
    this.onListening(session)
  }

  /** Every wanted channel is LISTENed on a new session: the listener is connected. */
  private onListening(session: ListenSession): void {
    const now = this.options.scheduler.now()
    const gap: ListenerGap | undefined = this.lostAt === undefined ? undefined : { since: this.lostAt, duration: now - this.lostAt }
    this.lostAt = undefined
    this.retries = 0
    this.setState(gap ? { status: 'connected', processId: session.processId, gap } : { status: 'connected', processId: session.processId })
    this.startHealthCheck(session)
  }

  private startHealthCheck(session: ListenSession): void {
    const healthCheck = this.options.healthCheck
    if (healthCheck === false) return
    const { scheduler } = this.options
    this.sessionSubscription.add(
      interval(healthCheck.interval, scheduler)
        .pipe(
          exhaustMap(() => {
            // One query at a time on the connection: a LISTEN batch in flight is itself a sign of life.
            if (this.changeInFlight) return EMPTY
            const changesBefore = this.changesStarted
            return session.listeningChannels().pipe(
              timeout({
                first: healthCheck.timeout,
                scheduler,
                with: () => throwError(() => new ConnectionLostError({ errorCode: 'ETIMEDOUT', detail: `health check got no answer within ${healthCheck.timeout} ms` })),
              }),
              // A LISTEN batch that ran meanwhile makes the answer stale: judge only a quiet interval.
              map((channels) => (changesBefore === this.changesStarted && !this.changeInFlight ? this.missingOrExtra(channels) : undefined)),
            )
          }),
        )
        .subscribe({
          next: (mismatch) => {
            if (mismatch !== undefined) this.onFailure(new ConnectionLostError({ detail: `health check found the server's LISTEN set out of step (${mismatch})` }))
          },
          error: (error: unknown) => this.onFailure(error),
        }),
    )
  }

  private missingOrExtra(channels: readonly string[]): string | undefined {
    const onServer = new Set(channels)
    for (const channel of this.serverSet) if (!onServer.has(channel)) return `not listening to ${JSON.stringify(channel)}`
    for (const channel of onServer) if (!this.serverSet.has(channel)) return `unexpectedly listening to ${JSON.stringify(channel)}`
    return undefined
  }

  private onFailure(error: unknown): void {
    if (this.status === 'closed' || this.status === 'failed') return
    if (error instanceof DeliveryBrokenError) {
      this.fail(error)
      return
    }
    const classified = this.options.classify(error)
    const wasConnected = this.status === 'connected'
    const session = this.session
    this.stopSession()
    void session?.end()
    if (classified instanceof ConnectionRejectedError) {
      this.fail(classified)
      return
    }
    if (wasConnected) this.lostAt = this.options.scheduler.now()
    this.retries += 1
    const delay = backoffDelay(this.retries, this.options.backoff)
    this.setState({ status: 'reconnecting', attempt: this.retries, delay, lastError: classified })
    this.retryTimer = this.options.scheduler.schedule(() => {
      this.retryTimer = undefined
      this.connect()
    }, delay)
  }

  /** Gives up for good: the server refused the connection, or notifications cannot be delivered. */
  private fail(error: ConnectionRejectedError | DeliveryBrokenError): void {
    if (this.status === 'closed' || this.status === 'failed') return
    const session = this.session
    this.stopSession()
    void session?.end()
    this.status = 'failed'
    this.releaseSettledWaiters()
    this.events.state({ status: 'failed', error })
    this.events.failed(error)
  }

  private stopSession(): void {
    this.session = undefined
    this.probeToken = undefined
    this.serverSet = new Set()
    this.changeInFlight = false
    this.sessionSubscription.unsubscribe()
    this.retryTimer?.unsubscribe()
    this.retryTimer = undefined
  }

  private setState(state: ListenerState): void {
    this.status = state.status
    this.events.state(state)
    this.releaseSettledWaiters()
  }

  /**
   * Settled: every LISTEN this process asked for is in effect. While the listener is down with channels
   * subscribed it is not, so sends wait (in the bounded queue) and this process's own subscribers never miss
   * what it sent. Idle, failed or closed: nothing to wait for.
   */
  private isSettled(): boolean {
    if (this.status === 'connecting' || this.status === 'reconnecting') return this.wanted.size === 0
    if (this.status !== 'connected') return true
    return !this.changeInFlight && this.pending.size === 0
  }

  private releaseSettledWaiters(): void {
    if (this.settledWaiters.length === 0 || !this.isSettled()) return
    const waiters = this.settledWaiters
    this.settledWaiters = []
    for (const resolve of waiters) resolve()
  }
}

/**
 * LISTEN refused because the server is read-only (SQLSTATE 25006, a hot-standby replica): retrying cannot
 * fix it, so it becomes a DeliveryBrokenError rather than a reconnect loop.
 */
function readOnlyServer(error: unknown): DeliveryBrokenError | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (code !== '25006') return undefined
  return new DeliveryBrokenError({ reason: 'notify-refused', sqlState: code, detail: typeof message === 'string' ? message : String(error) })
}
