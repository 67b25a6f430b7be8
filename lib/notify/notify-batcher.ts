import { asapScheduler, type SchedulerLike, type Subscription } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../connection/backoff.js'
import {
  ConnectionLostError,
  ConnectionRejectedError,
  DeliveryBrokenError,
  ListenerClosedError,
  NotifyFailedError,
  NotifyQueueFullError,
  type RxpgError,
} from '../errors.js'
import { notificationProblem } from '../identifiers.js'
import { SendFailure, type NotifyTransport, type OutgoingNotification } from './notify-transport.js'

export interface NotifyOptions {
  /**
   * Most notifications waiting to be sent (while the sending connection is down, or faster than it takes
   * them). Past it, a notification is refused with `NotifyQueueFullError`; those already queued keep their
   * place. Default 100000.
   */
  readonly maxQueue?: number
  /** Most notifications per round trip. Default 1000. */
  readonly maxBatchSize?: number
  /**
   * How long the first notification of a batch waits for others, in ms. Default 0: the batch goes out in the
   * next microtask, and while it is in flight the next one fills up, so throughput batches itself.
   */
  readonly batchWindow?: number
}

interface QueuedNotification extends OutgoingNotification {
  /** Present for `notify()`; `notify$.next()` reports failures through the batcher's `report`. */
  readonly settle?: { resolve(): void; reject(error: RxpgError): void }
}

export interface NotifyBatcherDependencies {
  readonly transport: NotifyTransport
  readonly scheduler: SchedulerLike
  readonly backoff: BackoffOptions
  readonly classify: (error: unknown) => ConnectionRejectedError | ConnectionLostError
  /** Removes secrets from a driver message. */
  readonly redact: (message: string) => string
  /**
   * False when this process's own LISTENs are in effect; otherwise true, and `then` is called once they are.
   * Sending waits for it, so a notification sent after subscribing in this process is received.
   */
  readonly whenListening: (then: () => void) => boolean
  /** Where failures of `notify$.next()` go. */
  readonly report: (error: RxpgError) => void
  /** Counted here: what was committed and what failed. */
  readonly counters: { sent: number; sendFailures: number }
}

/**
 * Validates, queues and sends notifications: one round trip per batch, in call order, each call exactly one
 * notification. PostgreSQL folds identical (channel, payload) pairs sent in one transaction into one, so a
 * batch ends before the first repeat and the repeat goes in the next transaction.
 */
export class NotifyBatcher {
  private queue: QueuedNotification[] = []
  private inFlight = false
  /** Size of the batch on the wire. */
  private sending = 0
  private afterInFlight: Array<() => void> = []
  private flushTimer: Subscription | undefined
  private retryTimer: Subscription | undefined
  private waitingForListens = false
  private retries = 0
  private failure: ConnectionRejectedError | DeliveryBrokenError | undefined
  private closed = false
  private readonly maxQueue: number
  private readonly maxBatchSize: number
  private readonly batchWindow: number

  constructor(
    private readonly deps: NotifyBatcherDependencies,
    options: NotifyOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 100_000
    this.maxBatchSize = options.maxBatchSize ?? 1000
    this.batchWindow = options.batchWindow ?? 0
  }

  /** Notifications accepted and not yet sent or failed (the queue and the batch in flight). */
  get depth(): number {
    return this.queue.length + this.sending
  }

  /** Queues one notification; returns the error instead when it is refused (nothing is queued then). */
  enqueue(channel: string, payload: string, settle?: QueuedNotification['settle']): RxpgError | undefined {
    const refusal = this.refusal(channel, payload)
    if (refusal) {
      this.deps.counters.sendFailures += 1
      return refusal
    }
    this.queue.push(settle ? { channel, payload, settle } : { channel, payload })
    this.scheduleFlush()
    return undefined
  }

  private refusal(channel: string, payload: string): RxpgError | undefined {
    const problem = notificationProblem(channel, payload)
    if (problem) return problem
    if (this.closed) return new ListenerClosedError({ operation: `notify on channel ${JSON.stringify(channel)}` })
    if (this.failure) return this.failure
    if (this.depth >= this.maxQueue) return new NotifyQueueFullError({ channel, limit: this.maxQueue })
    return undefined
  }

  /** Refuses everything queued and everything later with `error` (the server refused the connection for good). */
  refuseAll(error: ConnectionRejectedError | DeliveryBrokenError): void {
    this.failure ??= error
    this.rejectAll(this.failure)
  }

  /** Sends what is queued if the connection allows, rejects the rest, and stops. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.flushTimer?.unsubscribe()
    this.flushTimer = undefined
    const wasRetrying = this.retryTimer !== undefined
    this.retryTimer?.unsubscribe()
    this.retryTimer = undefined
    if (this.inFlight) await new Promise<void>((resolve) => this.afterInFlight.push(resolve))
    // Drain while the connection works; a connection that is down is not waited for.
    while (!wasRetrying && this.queue.length > 0 && this.failure === undefined) {
      const retriesBefore = this.retries
      await new Promise<void>((resolve) => this.sendNextBatch(resolve))
      if (this.retries > retriesBefore) break
    }
    this.rejectAll(new ListenerClosedError({ operation: 'sending a queued notification' }))
    await this.deps.transport.end()
  }

  private scheduleFlush(): void {
    if (this.inFlight || this.flushTimer || this.retryTimer || this.waitingForListens || this.closed) return
    const scheduler = this.batchWindow > 0 ? this.deps.scheduler : asapScheduler
    this.flushTimer = scheduler.schedule(() => {
      this.flushTimer = undefined
      this.flush()
    }, this.batchWindow)
  }

  /**
   * Sends the next batch and, when it is done, the next, for as long as anything is queued. Continues from
   * the transport's own callbacks (no Promise in between), so a marble test sees every batch in virtual time.
   */
  private readonly flush = (): void => {
    if (this.inFlight || this.queue.length === 0 || this.closed) return
    if (this.deps.whenListening(this.afterListens)) {
      this.waitingForListens = true
      return
    }
    this.inFlight = true
    this.sendNextBatch(this.afterBatch)
  }

  private readonly afterListens = (): void => {
    this.waitingForListens = false
    this.flush()
  }

  private readonly afterBatch = (): void => {
    this.inFlight = false
    if (this.afterInFlight.length > 0) {
      const waiting = this.afterInFlight
      this.afterInFlight = []
      for (const resolve of waiting) resolve()
    }
    if (this.queue.length > 0 && !this.retryTimer) this.flush()
  }

  /** Sends the longest prefix of the queue that fits one transaction, then calls `done`, whatever happened. */
  private sendNextBatch(done: () => void): void {
    const batch = this.takeBatch()
    this.sending = batch.length
    this.deps.transport.send(batch).subscribe({
      error: (error: unknown) => {
        this.sending = 0
        this.onSendError(batch, error)
        done()
      },
      complete: () => {
        this.sending = 0
        this.retries = 0
        this.deps.counters.sent += batch.length
        for (const notification of batch) notification.settle?.resolve()
        done()
      },
    })
  }

  private takeBatch(): QueuedNotification[] {
    const limit = Math.min(this.maxBatchSize, this.queue.length)
    let size = 1
    if (limit > 1) {
      const seen = new Set<string>()
      for (; size <= limit; size++) {
        const notification = this.queue[size - 1] as QueuedNotification
        // NUL cannot occur in a channel or payload, so it separates them unambiguously.
        const key = notification.channel + '\0' + notification.payload
        if (seen.has(key)) break
        seen.add(key)
      }
      size -= 1
    }
    return this.queue.splice(0, size)
  }

  private onSendError(batch: QueuedNotification[], error: unknown): void {
    const failure = error instanceof SendFailure ? error : new SendFailure('interrupted', error)
    if (failure.kind === 'unavailable') {
      const classified = this.deps.classify(failure.original)
      if (classified instanceof ConnectionRejectedError) {
        this.queue.unshift(...batch)
        this.refuseAll(classified)
        return
      }
      // Nothing was sent: the batch goes back to the front, in order, and is retried after a back-off.
      this.queue.unshift(...batch)
      this.retries += 1
      if (this.closed) return
      this.retryTimer = this.deps.scheduler.schedule(() => {
        this.retryTimer = undefined
        this.flush()
      }, backoffDelay(this.retries, this.deps.backoff))
      return
    }
    const original = (failure.original ?? {}) as { code?: unknown; message?: unknown }
    const detail = this.deps.redact(typeof original.message === 'string' ? original.message : String(failure.original))
    for (const notification of batch) {
      this.fail(
        notification,
        new NotifyFailedError(
          {
            channel: notification.channel,
            outcome: failure.kind === 'rejected' ? 'not-sent' : 'unknown',
            ...(typeof original.code === 'string' && failure.kind === 'rejected' ? { sqlState: original.code } : {}),
            detail,
          },
        ),
      )
    }
  }

  private rejectAll(error: RxpgError): void {
    const queued = this.queue
    this.queue = []
    for (const notification of queued) this.fail(notification, error)
  }

  private fail(notification: QueuedNotification, error: RxpgError): void {
    this.deps.counters.sendFailures += 1
    if (notification.settle) notification.settle.reject(error)
    else this.deps.report(error)
  }
}
