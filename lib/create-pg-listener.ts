import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { BehaviorSubject, Subject, asyncScheduler, type Observer, type SchedulerLike } from 'rxjs'
import { ChannelRouter } from './channel-router.js'
import type { BackoffOptions } from './connection/backoff.js'
import { classifyConnectionError } from './connection/classify-error.js'
import { ListenerConnection, type HealthCheckOptions } from './connection/listener-connection.js'
import { secretsOf } from './connection/secrets.js'
import type { RxpgError } from './errors.js'
import { loggedSource, loggedTransport, type ListenerLog } from './debug-log.js'
import { MetricsCounters } from './metrics.js'
import { NotifyBatcher, type NotifyOptions } from './notify/notify-batcher.js'
import type { NotifyTransport } from './notify/notify-transport.js'
import { pgTransport } from './notify/pg-transport.js'
import type { NotificationSource } from './sources/notification-source.js'
import { pgSource, type PgConnectionConfig } from './sources/pg-source.js'
import type { ListenerState, NotificationToSend, PgListener } from './types.js'

export interface PgListenerOptions {
  /** Runs every timer (back-off, time-outs, health checks, batching window). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike
  /** Back-off between connection attempts. Defaults: 100 ms doubling up to 2000 ms, half of each delay random. */
  readonly reconnect?: BackoffOptions
  /** How long one connection attempt may take before it counts as failed, in ms. Default 10000. */
  readonly connectTimeout?: number
  /**
   * Checks the listening connection while it is idle: `pg_listening_channels()` must answer within `timeout`
   * and match the channels subscribed, or the listener reconnects. `false` turns it off.
   * Default `{ interval: 30000, timeout: 5000 }`.
   */
  readonly healthCheck?: HealthCheckOptions | false
  /**
   * On every new connection, confirm that notifications are delivered: one NOTIFY to a private channel, sent
   * through the sending connection, must reach the listening one within `timeout` ms (default 5000). When it
   * does not (a transaction-mode pooler such as PgBouncer) or NOTIFY is refused (a read-only replica), `state$`
   * fails with `DeliveryBrokenError` naming the cause and the fix. `false` turns it off.
   */
  readonly selfProbe?: { readonly timeout?: number } | false
  /** Sending: the queue bound, batch size and window, and optionally a `pg.Pool` to send through. */
  readonly notify?: NotifyOptions & {
    /** Send through this pool (borrowing a client per batch) instead of a connection of rxpg's own. */
    readonly pool?: pg.Pool
  }
  /** Where notifications come from. Default: `pg` with the given config. See `pgListenSource` for pg-listen. */
  readonly source?: NotificationSource
  /**
   * Debug log: state changes, LISTEN/UNLISTEN batches, sent batches and send failures. Never a password or
   * a payload. Off by default.
   */
  readonly log?: ListenerLog
  /** @internal Replaces the sending transport (tests). */
  readonly transport?: NotifyTransport
}

/**
 * Creates the process's listener: one shared, reconnecting LISTEN connection serving every channel, and a
 * batched `notify$` sink on a connection of its own. Nothing connects until the first channel is subscribed
 * or the first notification is sent.
 *
 * ```ts
 * const db = createPgListener(process.env.DATABASE_URL)
 * db.channel('orders').subscribe((n) => console.log(n.payload))
 * db.notify$.next({ channel: 'orders', payload: '{"id":1}' })
 * await db.close()
 * ```
 */
export function createPgListener(config: PgConnectionConfig, options: PgListenerOptions = {}): PgListener {
  const scheduler = options.scheduler ?? asyncScheduler
  const secrets = secretsOf(config)
  const classify = (error: unknown) => classifyConnectionError(error, secrets)
  const backoff = options.reconnect ?? {}

  const state$ = new BehaviorSubject<ListenerState>({ status: 'idle' })
  const errors$ = new Subject<RxpgError>()
  const report = (error: RxpgError) => {
    if (errors$.observed) errors$.next(error)
    else process.emitWarning(error)
  }

  const counters: MetricsCounters = new MetricsCounters(() => batcher.depth)
  const router = new ChannelRouter({
    firstSubscriber: (channel) => connection.want(channel),
    lastUnsubscribed: (channel) => connection.unwant(channel),
    // With the real clock, one reading per burst: the notifications parsed from one socket read share it.
    now: scheduler === asyncScheduler ? burstClock() : () => scheduler.now(),
  })
  const log = options.log
  const baseTransport = options.transport ?? pgTransport(config, options.notify?.pool)
  const transport = log ? loggedTransport(baseTransport, log) : baseTransport
  const baseSource = options.source ?? pgSource(config)
  const selfProbe =
    options.selfProbe === false
      ? false
      : {
          // Private to this listener: nobody else LISTENs to it, and it never reaches the router.
          channel: `rxpg_probe_${randomBytes(6).toString('hex')}`,
          timeout: options.selfProbe?.timeout ?? 5_000,
          send: (channel: string, payload: string) => transport.send([{ channel, payload }]),
        }
  const healthCheck = options.healthCheck === false ? false : { interval: 30_000, timeout: 5_000, ...options.healthCheck }
  const connection = new ListenerConnection(
    log ? loggedSource(baseSource, log) : baseSource,
    { scheduler, backoff, connectTimeout: options.connectTimeout ?? 10_000, healthCheck, classify, selfProbe },
    {
      deliver: (notification) => {
        counters.received += 1
        router.deliver(notification)
      },
      state: (state) => {
        if (state.status === 'reconnecting') counters.reconnects += 1
        log?.({ event: 'state', state })
        state$.next(state)
      },
      failed: (error) => {
        router.fail(error)
        batcher.refuseAll(error)
      },
    },
  )
  const batcher: NotifyBatcher = new NotifyBatcher(
    {
      transport,
      counters,
      scheduler,
      backoff,
      classify,
      redact: secrets.redact,
      whenListening: (then) => connection.whenSettled(then),
      report,
    },
    options.notify,
  )

  const notify$: Observer<NotificationToSend> = {
    next: (notification) => {
      const error =
        typeof notification === 'object' && notification !== null
          ? batcher.enqueue(notification.channel, notification.payload ?? '')
          : batcher.enqueue(notification as unknown as string, '')
      if (error) report(error)
    },
    // A producer finishing or failing must not close a sink that others share.
    error: () => undefined,
    complete: () => undefined,
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      router.close()
      await Promise.all([connection.close(), batcher.close()])
      state$.complete()
      errors$.complete()
    })()
    return closing
  }

  return {
    channel: (name) => router.channel(name),
    notify$,
    notify: (channel, payload = '') =>
      new Promise<void>((resolve, reject) => {
        const error = batcher.enqueue(channel, payload, { resolve, reject })
        if (error) reject(error)
      }),
    isOwnNotification: (notification) => transport.processIds.has(notification.processId),
    metrics: counters,
    state$: state$.asObservable(),
    errors$: errors$.asObservable(),
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * `Date.now()` read once per burst of synchronous work: every notification pg parses from one socket read
 * arrived at the same moment, so they share one reading, cleared at the next microtask checkpoint.
 */
function burstClock(): () => number {
  let cached: number | undefined
  const clear = () => {
    cached = undefined
  }
  return () => {
    if (cached === undefined) {
      cached = Date.now()
      queueMicrotask(clear)
    }
    return cached
  }
}
