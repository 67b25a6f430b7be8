import { BehaviorSubject, Subject, Subscription, throwError, timeout, type Observable, type SchedulerLike } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../backoff.js'
import { ChannelRefusedError, ConnectionLostError, ConnectionRejectedError, DeliveryBrokenError, type DriverFacts } from '../errors.js'
import type { ChannelDemand } from '../ports/channel-demand.js'
import type { ListenSession, NotificationSource, RawNotification } from '../ports/notification-source.js'
import type { ListenerState } from '../types.js'
import { DeliverySubscriber } from './delivery-subscriber.js'
import { healthCheck, type HealthCheckOptions } from './health-check.js'
import { ListenSync } from './listen-sync.js'
import { selfProbe, type SelfProbeOptions } from './self-probe.js'

export interface ListenerConnectionOptions {
  readonly scheduler: SchedulerLike
  readonly backoff: BackoffOptions
  /** How long one connection attempt may take, in ms. */
  readonly connectTimeout: number
  readonly healthCheck: Required<HealthCheckOptions> | false
  readonly classify: (error: unknown) => ConnectionRejectedError | ConnectionLostError
  /** What a server error said (redacted), and the error to keep as cause: for a channel the server refused. */
  readonly describe: (error: unknown) => { readonly facts: DriverFacts; readonly cause: unknown }
  readonly selfProbe: Omit<SelfProbeOptions, 'scheduler'> | false
}

/** An open connection and what runs on it; unsubscribing `run` stops all of it and closes the connection. */
interface LiveSession {
  readonly session: ListenSession
  readonly sync: ListenSync
  readonly run: Subscription
}

/**
 * Where the connection is. `opening`, `listening` (the first LISTEN batch in flight) and `probing` are all
 * `connecting` on `state$`; `waiting` is `reconnecting`.
 */
type Phase =
  | { readonly name: 'idle' }
  | { readonly name: 'opening'; readonly run: Subscription }
  | { readonly name: 'listening'; readonly live: LiveSession }
  | { readonly name: 'probing'; readonly live: LiveSession }
  | { readonly name: 'connected'; readonly live: LiveSession }
  | { readonly name: 'waiting'; readonly timer: Subscription }
  | { readonly name: 'failed' }
  | { readonly name: 'closed' }

type LivePhase = Extract<Phase, { readonly live: LiveSession }>

/**
 * The one listening connection: connects when the first channel is wanted, keeps PostgreSQL's LISTEN set equal
 * to the set of wanted channels, reconnects after any transient failure (at once after losing a healthy
 * connection, then with back-off) and LISTENs again to everything still wanted.
 *
 * ```
 * idle → opening → listening → probing → connected ─┐
 *           ↑  (a transient failure anywhere)        │
 *           └──────────── waiting ←──────────────────┘        failed and closed are terminal
 * ```
 */
export class ListenerConnection {
  private phase: Phase = { name: 'idle' }
  /** Failed attempts since the last successful connection: picks the back-off delay. */
  private retries = 0
  /** The connection lost was healthy, so the first retry does not wait. */
  private retryAtOnce = false
  /** The last sign of life of a lost connection that had LISTENs in effect; undefined while nothing may have been missed. */
  private missedSince: number | undefined
  private settledWaiters: Array<() => void> = []
  private probesSent = 0
  private readonly state = new BehaviorSubject<ListenerState>({ status: 'idle' })
  private readonly inEffect = new Subject<void>()
  private readonly demandChanges: Subscription

  /** The connection's life; replays the current state. Completes on `close()`. */
  readonly states$: Observable<ListenerState> = this.state.asObservable()
  /** Emits whenever what is LISTENed in effect may have changed (a batch confirmed, a session lost). */
  readonly inEffectChanges$: Observable<void> = this.inEffect.asObservable()

  constructor(
    private readonly source: NotificationSource,
    private readonly demand: ChannelDemand,
    /** Called for every notification, in delivery order, with when the session received it: the hot path. */
    private readonly deliver: (notification: RawNotification, receivedAt: number) => void,
    private readonly options: ListenerConnectionOptions,
  ) {
    this.demandChanges = demand.changes$.subscribe(({ channel, wanted }) => (wanted ? this.want(channel) : this.unwant(channel)))
  }

  /**
   * False when every LISTEN asked for so far is in effect; otherwise true, and `then` is called once they are.
   * The notify$ sink waits on it, so a notification sent by this process after it subscribed to a channel is
   * received by that subscription.
   */
  whenSettled(then: () => void): boolean {
    if (this.isSettled()) return false
    this.settledWaiters.push(then)
    return true
  }

  /**
   * True while this process listens to `channel` and its LISTEN is not in effect (being sent, or the connection
   * being replaced): a notification committed now would not reach this process's own subscribers of it.
   */
  awaitsListen(channel: string): boolean {
    return !this.isSettled() && this.demand.wants(channel) && !this.isInEffect(channel)
  }

  /** PostgreSQL confirmed LISTEN for `channel` on the current connection: what is committed from now on arrives. */
  isInEffect(channel: string): boolean {
    const phase = this.phase
    return isLive(phase) && phase.live.sync.isInEffect(channel)
  }

  async close(): Promise<void> {
    if (this.phase.name === 'closed') return
    const ended = this.enter({ name: 'closed' })
    this.demandChanges.unsubscribe()
    this.releaseSettledWaiters()
    this.state.next({ status: 'closed' })
    this.state.complete()
    this.inEffect.complete()
    await ended
  }

  private want(channel: string): void {
    const phase = this.phase
    if (phase.name === 'idle') this.open()
    else if (isLive(phase)) phase.live.sync.want(channel)
  }

  private unwant(channel: string): void {
    const phase = this.phase
    if (isLive(phase)) phase.live.sync.unwant(channel)
    // The last channel gone while reconnecting: sends no longer need to wait.
    this.releaseSettledWaiters()
  }

  private open(): void {
    const run = new Subscription()
    void this.enter({ name: 'opening', run })
    this.emit({ status: 'connecting', attempt: Math.max(1, this.retries) })
    if (this.phase.name !== 'opening' || this.phase.run !== run) return
    const { scheduler, connectTimeout } = this.options
    run.add(
      this.source
        .connect(() => scheduler.now())
        .pipe(
          timeout({
            first: connectTimeout,
            scheduler,
            with: () => throwError(() => new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: `no connection within ${connectTimeout} ms` })),
          }),
        )
        .subscribe({
          next: (session) => this.onSession(session, run),
          error: (error: unknown) => this.onFailure(error, run),
          // Ended without a session (a source whose connection closed before it was ready): a lost connection,
          // or the listener would wait for ever (connectTimeout's timer stops with its source). After a session,
          // completing is the source's business: the session's notifications say when it is lost.
          complete: () => {
            if (this.phase.name === 'opening' && this.phase.run === run) {
              this.onFailure(new ConnectionLostError({ detail: 'the connection ended before it was ready (connect() completed without a session)' }), run)
            }
          },
        }),
    )
  }

  private onSession(session: ListenSession, run: Subscription): void {
    if (!this.isCurrent(run)) return
    const probe = this.options.selfProbe
    const channels = probe ? [...this.demand.channels(), probe.channel] : this.demand.channels()
    const sync: ListenSync = new ListenSync(session, {
      confirmed: () => this.onConfirmed(live),
      // What is in effect may have ended (isInEffect counts a channel with a change on its way out): listening() asks again.
      changed: () => {
        if (this.isCurrent(run)) this.inEffect.next()
      },
      failed: (error) => this.onFailure(readOnlyServer(error) ?? error, run),
      refused: (channel, refusal) => {
        if (!this.isCurrent(run)) return
        if ('listenedAs' in refusal) {
          const { listenedAs } = refusal
          const detail = `LISTEN truncated the name to ${JSON.stringify(listenedAs)}, its first 63 bytes in the database's encoding`
          return this.demand.refuse(channel, new ChannelRefusedError({ channel, reason: 'truncated-by-server', listenedAs, detail }))
        }
        const { facts, cause } = this.options.describe(refusal.error)
        this.demand.refuse(channel, new ChannelRefusedError({ channel, reason: 'server-refused', ...facts }, { cause }))
      },
    })
    const live: LiveSession = { session, sync, run }
    run.add(() => sync.stop())
    this.phase = { name: 'listening', live }
    run.add(session.notifications.subscribe(new DeliverySubscriber(session, this.deliver, (error) => this.onFailure(error, run))))
    sync.start(channels)
    // Nothing to LISTEN (every channel left while connecting, and no probe): already in step.
    if (sync.settled) this.onConfirmed(live)
  }

  private onConfirmed(live: LiveSession): void {
    if (!this.isCurrent(live.run)) return
    this.inEffect.next()
    if (this.phase.name === 'listening' && live.sync.settled) this.startProbe(live)
    this.releaseSettledWaiters()
  }

  private startProbe(live: LiveSession): void {
    const probe = this.options.selfProbe
    if (probe === false) return this.onConnected(live)
    this.phase = { name: 'probing', live }
    // Digits only: the payload must survive a source that JSON-parses and re-serialises (pg-listen's default).
    const token = String(live.session.processId * 1_000_000 + ++this.probesSent)
    live.run.add(
      selfProbe(live.session.notifications, token, { ...probe, scheduler: this.options.scheduler }).subscribe({
        complete: () => this.onConnected(live),
        error: (error: unknown) => this.onFailure(error, live.run),
      }),
    )
  }

  /** Every wanted channel is LISTENed and notifications are delivered: the listener is connected. */
  private onConnected(live: LiveSession): void {
    if (!this.isCurrent(live.run)) return
    const { scheduler } = this.options
    const since = this.missedSince
    this.missedSince = undefined
    this.retries = 0
    this.retryAtOnce = false
    this.phase = { name: 'connected', live }
    const { processId } = live.session
    this.emit(since === undefined ? { status: 'connected', processId } : { status: 'connected', processId, gap: { since, duration: scheduler.now() - since } })
    if (!this.isCurrent(live.run) || this.options.healthCheck === false) return
    live.run.add(
      healthCheck(live.session, live.sync, { ...this.options.healthCheck, scheduler }).subscribe({
        error: (error: unknown) => this.onFailure(error, live.run),
      }),
    )
  }

  private onFailure(error: unknown, run: Subscription): void {
    if (!this.isCurrent(run)) return
    if (error instanceof DeliveryBrokenError) return this.fail(error)
    const classified = this.options.classify(error)
    if (classified instanceof ConnectionRejectedError) return this.fail(classified)
    const phase = this.phase
    // Once LISTENs were in effect, notifications may have been delivered: what comes after its last sign of
    // life may be missed. An earlier loss not yet recovered from keeps its earlier start.
    if ((phase.name === 'connected' || phase.name === 'probing') && this.missedSince === undefined) {
      this.missedSince = phase.live.session.lastReceivedAt()
    }
    if (phase.name === 'connected') this.retryAtOnce = true
    this.retries += 1
    const { backoff, scheduler } = this.options
    const delay = !this.retryAtOnce ? backoffDelay(this.retries, backoff) : this.retries === 1 ? 0 : backoffDelay(this.retries - 1, backoff)
    const timer = new Subscription()
    void this.enter({ name: 'waiting', timer })
    this.emit({ status: 'reconnecting', attempt: this.retries, delay, lastError: classified })
    if (this.phase.name !== 'waiting' || this.phase.timer !== timer) return
    if (delay === 0) this.open()
    else timer.add(scheduler.schedule(() => this.open(), delay))
  }

  /** Gives up for good: the server refused the connection, or notifications cannot be delivered. */
  private fail(error: ConnectionRejectedError | DeliveryBrokenError): void {
    void this.enter({ name: 'failed' })
    this.releaseSettledWaiters()
    this.emit({ status: 'failed', error })
  }

  /**
   * Moves to `next`, then ends what the previous phase ran (attempt, session, timer), so that whatever that
   * teardown reports (a connection closing errors its notifications) is already stale. Resolves once the
   * previous connection is closed.
   */
  private enter(next: Phase): Promise<void> {
    const previous = this.phase
    this.phase = next
    if (previous.name === 'opening') previous.run.unsubscribe()
    else if (previous.name === 'waiting') previous.timer.unsubscribe()
    else if (isLive(previous)) {
      previous.live.run.unsubscribe()
      this.inEffect.next()
      return previous.live.session.end()
    }
    return Promise.resolve()
  }

  /** True while `run` belongs to the current phase: callbacks of an ended session or attempt are ignored. */
  private isCurrent(run: Subscription): boolean {
    const phase = this.phase
    return phase.name === 'opening' ? phase.run === run : isLive(phase) && phase.live.run === run
  }

  private emit(state: ListenerState): void {
    this.state.next(state)
    this.releaseSettledWaiters()
  }

  /**
   * Settled: every LISTEN this process asked for is in effect. While the listener is not connected with
   * channels subscribed it is not, so sends wait (in the bounded queue) and this process's own subscribers
   * never miss what it sent. Idle, failed or closed: nothing to wait for.
   */
  private isSettled(): boolean {
    const phase = this.phase
    if (phase.name === 'connected') return phase.live.sync.settled
    if (phase.name === 'idle' || phase.name === 'failed' || phase.name === 'closed') return true
    for (const _ of this.demand.channels()) return false
    return true
  }

  private releaseSettledWaiters(): void {
    if (this.settledWaiters.length === 0 || !this.isSettled()) return
    const waiters = this.settledWaiters
    this.settledWaiters = []
    for (const resolve of waiters) resolve()
  }
}

function isLive(phase: Phase): phase is LivePhase {
  return phase.name === 'listening' || phase.name === 'probing' || phase.name === 'connected'
}

/**
 * LISTEN refused because the server is read-only (SQLSTATE 25006, a hot-standby replica): retrying cannot
 * fix it, so it becomes a DeliveryBrokenError rather than a reconnect loop.
 */
function readOnlyServer(error: unknown): DeliveryBrokenError | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (code !== '25006') return undefined
  return new DeliveryBrokenError({ reason: 'notify-refused', sqlState: code, detail: typeof message === 'string' ? message : String(error) }, { cause: error })
}
