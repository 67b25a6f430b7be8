import { asapScheduler, Subscription, type SchedulerLike } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../backoff.js'
import {
  ConnectionLostError,
  ConnectionRejectedError,
  ListenerClosedError,
  NotifyFailedError,
  NotifyQueueFullError,
  type DeliveryBrokenError,
  type DriverFacts,
  type RxpgError,
} from '../errors.js'
import { notificationProblem } from '../identifiers.js'
import { DISPATCHED, SendFailure, type NotifyTransport, type OutgoingNotification } from '../ports/notify-transport.js'
import { Deque } from './deque.js'

export interface NotifyOptions {
  /**
   * Most notifications waiting to be sent (while the sending connection is down, or faster than it takes
   * them). Past it, a notification is refused with `NotifyQueueFullError`; those already queued keep their
   * place. Default 100000.
   */
  readonly maxQueue?: number | undefined
  /** Most notifications per round trip. Default 1000. */
  readonly maxBatchSize?: number | undefined
  /**
   * How long the first notification of a batch waits for others, in ms. Default 0: the batch goes out in the
   * next microtask, and while it is in flight the next one fills up, so throughput batches itself.
   */
  readonly batchWindow?: number | undefined
  /**
   * The longest a notification may wait to be sent, in ms: past it, it fails with `NotifyFailedError`
   * (`outcome: 'not-sent'`). Default 30000. A notification already in flight is bounded by `sendTimeout`.
   */
  readonly timeout?: number | undefined
  /**
   * How long a batch handed to the sending connection may take to commit, in ms. Past it the connection is
   * taken for dead and replaced, and the batch fails with `NotifyFailedError` (`outcome: 'unknown'`).
   * Default 5000.
   */
  readonly sendTimeout?: number | undefined
  /** The longest `close()` spends sending what is queued, in ms; what is left then fails. Default 2000. */
  readonly closeTimeout?: number | undefined
}

interface QueuedNotification extends OutgoingNotification {
  /** Present for `notify()`; `notify$.next()` reports failures through the batcher's `report`. */
  readonly settle?: { resolve(): void; reject(error: RxpgError): void } | undefined
  /** When it stops waiting (scheduler clock). */
  readonly deadline: number
}

export interface NotifyBatcherDependencies {
  readonly transport: NotifyTransport
  readonly scheduler: SchedulerLike
  readonly backoff: BackoffOptions
  /** How long opening the sending connection may take, in ms. */
  readonly connectTimeout: number
  readonly classify: (error: unknown) => ConnectionRejectedError | ConnectionLostError
  /** What a driver error said, secrets removed, and the error to keep as `cause`. */
  readonly describe: (error: unknown) => { readonly facts: DriverFacts; readonly cause: unknown }
  /**
   * False when this process's own LISTENs are in effect; otherwise true, and `then` is called once they are.
   * A send to a channel that `awaitsListen` waits for it, so a notification sent after subscribing in this
   * process is received.
   */
  readonly whenListening: (then: () => void) => boolean
  /**
   * True while this process listens to `channel` and that LISTEN is not in effect yet. Other channels are sent
   * at once, also while the listener (re)connects: no subscriber here can miss them.
   */
  readonly awaitsListen: (channel: string) => boolean
  /** Where failures of `notify$.next()` go. */
  readonly report: (error: RxpgError) => void
}

/** A batch on its way: removed from the queue, put back in front if it could not be sent. */
interface InFlight {
  readonly batch: QueuedNotification[]
  readonly run: Subscription
  dispatched: boolean
}

/**
 * What the batcher is doing. `idle`: nothing queued. `window`: waiting for a batch to fill. `listens`: waiting
 * for this process's LISTENs to be in effect. `sending`: one batch in flight. `backoff`: the sending
 * connection was unavailable, waiting to retry. `failed` (the server refused the connection for good) and
 * `closed` refuse everything.
 */
type Phase =
  | { readonly name: 'idle' }
  | { readonly name: 'window'; readonly timer: Subscription }
  | { readonly name: 'listens' }
  | { readonly name: 'sending'; readonly flight: InFlight }
  | { readonly name: 'backoff'; readonly timer: Subscription; readonly lastFailure: { readonly facts: DriverFacts; readonly cause: unknown } }
  | { readonly name: 'failed'; readonly error: ConnectionRejectedError | DeliveryBrokenError }
  | { readonly name: 'closed' }

/**
 * Validates, queues and sends notifications: one round trip per batch, in call order, each call exactly one
 * notification. PostgreSQL folds identical (channel, payload) pairs sent in one transaction into one, so a
 * batch ends before the first repeat and the repeat goes in the next transaction. Every notification settles
 * within a bounded time: committed, or failed with what is known of its outcome.
 */
export class NotifyBatcher {
  /** Notifications committed. */
  sent = 0
  /** Notifications refused or failed. */
  sendFailures = 0
  /** Outages of the sending connection ended: a batch committed after one or more could not get a connection. */
  reconnects = 0
  private phase: Phase = { name: 'idle' }
  private readonly queue = new Deque<QueuedNotification>()
  /** Failed attempts to reach the sending connection since the last success: picks the back-off delay. */
  private retries = 0
  /**
   * A batch could not get a connection (none could be opened in time, or it broke before the batch was handed to
   * it) since the last commit. A batch handed to a connection and sent again (a statement name a pooler does not
   * know, a server shutting down mid-statement) is retried, but had a connection: no outage of its own.
   */
  private outage = false
  /** How many of the next batches take one notification: those of a batch refused for one of them, sent again alone. */
  private sendAlone = 0
  /** The timer of the oldest waiting notification's deadline. */
  private expiry: Subscription | undefined
  /** Set by `close()`: nothing more is accepted, and `finish` ends the batcher once the queue is sent or the time is up. */
  private closing: { readonly timer: Subscription; readonly finish: () => void } | undefined
  private closed: Promise<void> | undefined
  private readonly maxQueue: number
  private readonly maxBatchSize: number
  private readonly batchWindow: number
  private readonly timeout: number
  private readonly sendTimeout: number
  /** How long `close()` waits for the queue; the listener's `close()` as a whole waits no longer. */
  readonly closeTimeout: number

  constructor(
    private readonly deps: NotifyBatcherDependencies,
    options: NotifyOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 100_000
    this.maxBatchSize = options.maxBatchSize ?? 1000
    this.batchWindow = options.batchWindow ?? 0
    this.timeout = options.timeout ?? 30_000
    this.sendTimeout = options.sendTimeout ?? 5_000
    this.closeTimeout = options.closeTimeout ?? 2_000
  }

  /** Notifications accepted and not yet sent or failed (the queue and the batch in flight). */
  get depth(): number {
    return this.queue.length + (this.phase.name === 'sending' ? this.phase.flight.batch.length : 0)
  }

  /** Queues one notification; returns the error instead when it is refused (nothing is queued then). */
  enqueue(channel: string, payload: string, settle?: QueuedNotification['settle']): RxpgError | undefined {
    const refusal = this.refusal(channel, payload)
    if (refusal) {
      this.sendFailures += 1
      return refusal
    }
    const deadline = this.deps.scheduler.now() + this.timeout
    this.queue.push(settle ? { channel, payload, settle, deadline } : { channel, payload, deadline })
    this.expiry ??= this.scheduleExpiry()
    if (this.phase.name === 'idle') this.openWindow()
    return undefined
  }

  /** Counts `error`, a send refused before it reached the queue, among the send failures; returns it. */
  refuse<E extends RxpgError>(error: E): E {
    this.sendFailures += 1
    return error
  }

  /** Refuses everything queued and everything later with `error` (the server refused the connection for good). */
  refuseAll(error: ConnectionRejectedError | DeliveryBrokenError): void {
    if (this.phase.name === 'failed' || this.phase.name === 'closed') return
    const flight = this.stopPhase()
    this.phase = { name: 'failed', error }
    if (flight) this.failAll(flight.batch, error)
    this.failAll(this.queue.drain(), error)
    this.cancelExpiry()
    this.closing?.finish()
  }

  /**
   * Sends what is queued while the sending connection works, for at most `closeTimeout`; fails the rest, and
   * ends the sending connection. A connection that is down is not waited for.
   */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const finish = () => {
        if (this.phase.name === 'closed') return
        this.closing?.timer.unsubscribe()
        const flight = this.stopPhase()
        this.phase = { name: 'closed' }
        if (flight) this.abandon(flight, `the listener was closed before the batch committed (closeTimeout ${this.closeTimeout} ms)`)
        this.failAll(this.queue.drain(), new ListenerClosedError({ operation: 'sending a queued notification' }))
        this.cancelExpiry()
        void this.deps.transport.end().then(resolve, resolve)
      }
      this.closing = { timer: this.deps.scheduler.schedule(finish, this.closeTimeout), finish }
      const phase = this.phase
      if (phase.name === 'window') {
        phase.timer.unsubscribe()
        this.flush()
      } else if (phase.name !== 'sending' && phase.name !== 'listens') {
        finish()
      }
    })
    return this.closed
  }

  private refusal(channel: string, payload: string): RxpgError | undefined {
    const problem = notificationProblem(channel, payload)
    if (problem) return problem
    if (this.closing || this.phase.name === 'closed') return new ListenerClosedError({ operation: `notify on channel ${JSON.stringify(channel)}` })
    if (this.phase.name === 'failed') return this.phase.error
    if (this.depth >= this.maxQueue) return new NotifyQueueFullError({ channel, limit: this.maxQueue })
    return undefined
  }

  private openWindow(): void {
    const scheduler = this.batchWindow > 0 ? this.deps.scheduler : asapScheduler
    const timer = new Subscription()
    this.phase = { name: 'window', timer }
    timer.add(scheduler.schedule(() => this.flush(), this.batchWindow))
  }

  /**
   * Sends the next batch, once this process's own LISTEN of its first notification's channel is in effect (at
   * once for a channel nobody here listens to). Batches chain through the transport's own callbacks (no Promise
   * in between), so a marble test sees every batch in virtual time.
   */
  private readonly flush = (): void => {
    if (this.queue.length === 0) return this.afterQueueEmptied()
    this.phase = { name: 'listens' }
    if (this.deps.awaitsListen((this.queue.at(0) as QueuedNotification).channel) && this.deps.whenListening(this.afterListens)) return
    this.sendNextBatch()
  }

  private readonly afterListens = (): void => {
    if (this.phase.name === 'listens') this.flush()
  }

  private afterQueueEmptied(): void {
    this.phase = { name: 'idle' }
    if (this.closing) this.closing.finish()
  }

  /** Sends the longest prefix of the queue that fits one transaction. */
  private sendNextBatch(): void {
    const batch = this.takeBatch()
    const flight: InFlight = { batch, run: new Subscription(), dispatched: false }
    this.phase = { name: 'sending', flight }
    const { scheduler } = this.deps
    const connectTimer = scheduler.schedule(() => {
      flight.run.unsubscribe()
      this.onUnavailable(flight, new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: `no sending connection within ${this.deps.connectTimeout} ms` }))
    }, this.deps.connectTimeout)
    flight.run.add(connectTimer)
    flight.run.add(
      this.deps.transport.send(batch).subscribe({
        next: (signal) => {
          if (signal !== DISPATCHED || flight.dispatched) return
          flight.dispatched = true
          connectTimer.unsubscribe()
          flight.run.add(scheduler.schedule(() => this.abandon(flight, `no answer within ${this.sendTimeout} ms (sendTimeout); the sending connection was replaced`), this.sendTimeout))
        },
        error: (error: unknown) => {
          flight.run.unsubscribe()
          this.onSendError(flight, error instanceof SendFailure ? error : new SendFailure('interrupted', error))
        },
        complete: () => {
          flight.run.unsubscribe()
          if (this.outage) this.reconnects += 1
          this.outage = false
          this.retries = 0
          this.sent += batch.length
          for (const notification of batch) notification.settle?.resolve()
          this.flush()
        },
      }),
    )
  }

  private takeBatch(): QueuedNotification[] {
    if (this.sendAlone > 0) {
      this.sendAlone -= 1
      return [this.shiftQueue()]
    }
    const limit = Math.min(this.maxBatchSize, this.queue.length)
    const batch: QueuedNotification[] = [this.shiftQueue()]
    if (limit === 1) return batch
    // NUL cannot occur in a channel or payload, so it separates them unambiguously.
    const keyOf = (notification: OutgoingNotification) => notification.channel + '\0' + notification.payload
    const seen = new Set<string>([keyOf(batch[0] as QueuedNotification)])
    while (batch.length < limit) {
      const next = this.queue.at(0) as QueuedNotification
      // One that must wait for its LISTEN ends the batch: the calls after it keep their place behind it.
      if (this.deps.awaitsListen(next.channel)) break
      const key = keyOf(next)
      if (seen.has(key)) break
      seen.add(key)
      batch.push(this.shiftQueue())
    }
    return batch
  }

  /** Takes the first notification of the queue; an empty queue needs no deadline timer. */
  private shiftQueue(): QueuedNotification {
    const notification = this.queue.shift() as QueuedNotification
    if (this.queue.length === 0) this.cancelExpiry()
    return notification
  }

  private cancelExpiry(): void {
    this.expiry?.unsubscribe()
    this.expiry = undefined
  }

  private onSendError(flight: InFlight, failure: SendFailure): void {
    if (failure.kind === 'unavailable') return this.onUnavailable(flight, failure.original)
    const { facts, cause } = this.deps.describe(failure.original)
    // A data exception (SQLSTATE class 22: a character the database's encoding has no equivalent for, a payload
    // longer there than 7999 bytes) is about one notification, and the batch's transaction rolled back: nothing
    // was sent. Each is sent again alone, in order, so that only the one refused fails.
    if (failure.kind === 'rejected' && flight.batch.length > 1 && facts.sqlState?.startsWith('22') === true) {
      this.queue.unshiftAll(flight.batch)
      this.sendAlone = flight.batch.length
      this.expiry ??= this.scheduleExpiry()
      return this.flush()
    }
    const outcome = failure.kind === 'rejected' ? 'not-sent' : 'unknown'
    for (const notification of flight.batch) {
      this.fail(notification, new NotifyFailedError({ channel: notification.channel, payload: notification.payload, outcome, ...facts }, { cause }))
    }
    this.flush()
  }

  /** Nothing was sent: the batch goes back to the front, in order, and is retried after a back-off. */
  private onUnavailable(flight: InFlight, error: unknown): void {
    if (!flight.dispatched) this.outage = true
    this.queue.unshiftAll(flight.batch)
    // Back in the queue, the batch is no longer in flight: what fails the queue next (close, a refused
    // connection) must not fail it a second time as the batch in flight.
    this.phase = { name: 'idle' }
    this.expiry ??= this.scheduleExpiry()
    const classified = this.deps.classify(error)
    if (classified instanceof ConnectionRejectedError) return this.refuseAll(classified)
    // Closing: a connection that is down is not waited for.
    if (this.closing) return this.closing.finish()
    this.retries += 1
    const timer = new Subscription()
    // The classified error's facts (its detail, and the driver's codes), the driver's error as the cause.
    this.phase = { name: 'backoff', timer, lastFailure: { facts: classified.info, cause: error } }
    timer.add(this.deps.scheduler.schedule(this.flush, backoffDelay(this.retries, this.deps.backoff)))
  }

  /** Gives up on a batch in flight: its connection is destroyed (by unsubscribing) and its outcome is unknown. */
  private abandon(flight: InFlight, detail: string): void {
    flight.run.unsubscribe()
    if (!flight.dispatched) {
      this.failAll(flight.batch, new ListenerClosedError({ operation: 'sending a queued notification' }))
      return
    }
    for (const notification of flight.batch) {
      this.fail(notification, new NotifyFailedError({ channel: notification.channel, payload: notification.payload, outcome: 'unknown', systemCode: 'ETIMEDOUT', detail }))
    }
    if (this.phase.name === 'sending' && this.phase.flight === flight) this.flush()
  }

  /** Ends what the current phase runs; returns the batch that was in flight, if any. */
  private stopPhase(): InFlight | undefined {
    const phase = this.phase
    if (phase.name === 'window' || phase.name === 'backoff') phase.timer.unsubscribe()
    if (phase.name !== 'sending') return undefined
    phase.flight.run.unsubscribe()
    return phase.flight
  }

  /**
   * One timer for the oldest waiting notification: deadlines grow with the queue, so the ones that passed are
   * always at its front.
   */
  private scheduleExpiry(): Subscription | undefined {
    const head = this.queue.at(0)
    if (head === undefined || this.timeout === Infinity) return undefined
    return this.deps.scheduler.schedule(() => {
      this.expiry = undefined
      const now = this.deps.scheduler.now()
      const phase = this.phase
      const waitingFor = phase.name === 'listens' ? 'the listener to reconnect' : phase.name === 'backoff' ? 'a sending connection' : 'its turn'
      // Waiting for a sending connection: why the last attempt to open one failed (refused, unknown host) is
      // what the caller needs to know, more than that it waited.
      const last = phase.name === 'backoff' ? phase.lastFailure : undefined
      while ((this.queue.at(0)?.deadline ?? Infinity) <= now) {
        const notification = this.queue.shift() as QueuedNotification
        const detail = `not sent within ${this.timeout} ms (timeout) while waiting for ${waitingFor}`
        this.fail(
          notification,
          new NotifyFailedError(
            { channel: notification.channel, payload: notification.payload, outcome: 'not-sent', ...last?.facts, detail: last === undefined ? detail : `${detail}; the last attempt failed: ${last.facts.detail}` },
            last === undefined ? undefined : { cause: last.cause },
          ),
        )
      }
      this.expiry = this.scheduleExpiry()
      if (this.queue.length === 0 && this.phase.name !== 'sending') this.stopWaiting()
    }, Math.max(0, head.deadline - this.deps.scheduler.now()))
  }

  /** The queue emptied by expiry while waiting: nothing left to wait for. */
  private stopWaiting(): void {
    this.stopPhase()
    this.afterQueueEmptied()
  }

  private failAll(notifications: readonly QueuedNotification[], error: RxpgError): void {
    for (const notification of notifications) this.fail(notification, error)
  }

  private fail(notification: QueuedNotification, error: RxpgError): void {
    this.sendFailures += 1
    if (notification.settle) notification.settle.reject(error)
    else this.deps.report(error)
  }
}
