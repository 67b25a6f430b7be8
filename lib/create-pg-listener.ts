import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import {
  ReplaySubject,
  Subject,
  asyncScheduler,
  catchError,
  distinctUntilChanged,
  ignoreElements,
  map,
  of,
  retry,
  skip,
  startWith,
  throwError,
  type Observable,
  type Observer,
  type SchedulerLike,
} from 'rxjs'
import type { BackoffOptions } from './backoff.js'
import { ChannelRouter } from './channel-router.js'
import type { HealthCheckOptions } from './connection/health-check.js'
import { ListenerConnection } from './connection/listener-connection.js'
import { DeliveryBrokenError, InvalidSinkValueError, isObjectArgument, NOTIFY_SINK_SHAPE, type ConnectionLostError, type ConnectionRejectedError, type RxpgError } from './errors.js'
import { checkListenerOptionNames, checkListenerOptions } from './check-listener-options.js'
import { loggedSource, loggedTransport, type ListenerLog } from './debug-log.js'
import { assertChannelName } from './identifiers.js'
import { MetricsCounters } from './metrics.js'
import { NotifyBatcher, type NotifyOptions } from './notify/notify-batcher.js'
import { settlesWithin } from './settles-within.js'
import { classifyConnectionError } from './pg/classify-error.js'
import { assertConnectionConfig, type PgConnectionConfig } from './pg/config.js'
import { driverFacts, redactedCause } from './pg/driver-error.js'
import { pgSource } from './pg/pg-source.js'
import { pgTransport } from './pg/pg-transport.js'
import { secretsOf } from './pg/secrets.js'
import type { NotificationSource } from './ports/notification-source.js'
import { SendFailure, type NotifyTransport } from './ports/notify-transport.js'
import type { ListenerState, NotificationToSend, PgListener } from './types.js'

export interface PgListenerOptions {
  /** Runs every timer (back-off, time-outs, health checks, batching window). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
  /**
   * Back-off between connection attempts. Defaults: 100 ms doubling up to 2000 ms, half of each delay random.
   * After losing a connection that was working, the first attempt is made at once.
   */
  readonly reconnect?: BackoffOptions | undefined
  /** How long opening a connection (listening or sending) may take before it counts as failed, in ms. Default 10000. */
  readonly connectTimeout?: number | undefined
  /**
   * Checks the listening connection while it is idle: `pg_listening_channels()` must answer within `timeout`
   * and match the channels subscribed, or the listener reconnects. `false` turns it off.
   * Default `{ interval: 30000, timeout: 5000 }`.
   */
  readonly healthCheck?: HealthCheckOptions | false | undefined
  /**
   * On every new connection, confirm that notifications are delivered: one NOTIFY to a private channel,
   * committed through the sending connection, must reach the listening one within `timeout` ms (default
   * 5000). Committed but never arrived (a transaction-mode pooler such as PgBouncer) or refused (a read-only
   * replica): `state$` fails with `DeliveryBrokenError` naming the cause and the fix. Not committed in time (the
   * sending connection is dead): a transient failure, the listener reconnects. `false` turns it off.
   */
  readonly selfProbe?: { readonly timeout?: number | undefined } | false | undefined
  /** Sending: the queue bound, batch size and window, time-outs, and optionally a `pg.Pool` to send through. */
  readonly notify?: NotifyOptions & {
    /** Send through this pool (borrowing a client per batch) instead of a connection of rxpg's own. */
    readonly pool?: pg.Pool | undefined
  } | undefined
  /** Where notifications come from. Default: `pg` with the given config (`rxpg/pg-listen` adapts pg-listen). */
  readonly source?: NotificationSource | undefined
  /**
   * Where notifications (and the self-probe) are sent. Default: `pg` with the given config, or `notify.pool`.
   * `rxpg/testing`'s `virtualSource(...).transport` draws it in marble tests.
   */
  readonly transport?: NotifyTransport | undefined
  /**
   * Debug log: state changes, LISTEN/UNLISTEN batches, sent batches and send failures. Never a password or
   * a payload. Off by default.
   */
  readonly log?: ListenerLog | undefined
}

/**
 * Creates the process's listener: one shared, reconnecting LISTEN connection serving every channel, and a
 * batched `notify$` sink on a connection of its own. Nothing connects until the first channel is subscribed
 * or the first notification is sent.
 *
 * ```ts
 * const db = createPgListener(process.env.DATABASE_URL!)
 * db.channel('orders').subscribe((n) => console.log(n.payload))
 * db.notify$.next({ channel: 'orders', payload: '{"id":1}' })
 * await db.close()
 * ```
 *
 * @throws RangeError for a numeric option it cannot honour (naming the option and the value); TypeError for an
 * option name it does not take, or one of its options put in the connection config.
 */
export function createPgListener(config: PgConnectionConfig, givenOptions: PgListenerOptions = {}): PgListener {
  // null is the defaults, as undefined is: a JavaScript caller passing "no options" either way.
  const options: PgListenerOptions = (givenOptions as PgListenerOptions | null) ?? {}
  assertConnectionConfig('rxpg', 'createPgListener', config)
  checkListenerOptionNames(config, options)
  checkListenerOptions(options)
  const scheduler = options.scheduler ?? asyncScheduler
  const secrets = secretsOf(config)
  const classify = (error: unknown) => classifyConnectionError(error, secrets)
  const backoff = options.reconnect ?? {}
  const connectTimeout = options.connectTimeout ?? 10_000
  const log = options.log
  const errors$ = new Subject<RxpgError>()
  const report = (error: RxpgError) => {
    if (errors$.observed) errors$.next(error)
    else process.emitWarning(error)
  }

  // Each part is made after those it uses: router, then sending, then listening, then what reads them all.
  const router = new ChannelRouter()

  const baseTransport = options.transport ?? pgTransport(config, options.notify?.pool)
  const transport = log ? loggedTransport(baseTransport, log) : baseTransport

  const baseSource = options.source ?? pgSource(config)
  const selfProbe =
    options.selfProbe === false
      ? false
      : {
          // Private to this listener: nobody else LISTENs to it, and no channel of the router carries it.
          channel: `rxpg_probe_${randomBytes(6).toString('hex')}`,
          timeout: options.selfProbe?.timeout ?? 5_000,
          send: (channel: string, payload: string): Observable<never> =>
            transport.send([{ channel, payload }]).pipe(
              // A sending connection that just died (it may have idled out with the listening one) is replaced
              // by the transport: one more try, rather than a new listening connection.
              retry({ count: 1, delay: (error: unknown) => (error instanceof SendFailure && error.kind !== 'rejected' ? of(true) : throwError(() => error)) }),
              ignoreElements(),
              catchError((error: unknown) => throwError(() => probeFailure(error, classify, secrets.redact))),
            ),
        }
  // Field by field rather than spread over the defaults: a field given as undefined takes its default too.
  const healthCheck = options.healthCheck === false ? false : { interval: options.healthCheck?.interval ?? 30_000, timeout: options.healthCheck?.timeout ?? 5_000 }
  const describe = (error: unknown) => ({ facts: driverFacts(error, secrets.redact), cause: redactedCause(error, secrets.redact) })
  const connection = new ListenerConnection(log ? loggedSource(baseSource, log) : baseSource, router, router.deliver, {
    scheduler,
    backoff,
    connectTimeout,
    healthCheck,
    classify,
    describe,
    selfProbe,
  })

  const batcher = new NotifyBatcher(
    {
      transport,
      scheduler,
      backoff,
      connectTimeout,
      classify,
      describe,
      whenListening: (then) => connection.whenSettled(then),
      awaitsListen: (channel) => connection.awaitsListen(channel),
      report,
    },
    options.notify,
  )

  const metrics = new MetricsCounters(() => ({ received: router.received, sent: batcher.sent, sendFailures: batcher.sendFailures, sendReconnects: batcher.reconnects, queueDepth: batcher.depth }))
  // Replays the current state to every subscriber, also the last one (closed, failed) to one that comes after
  // the end: a BehaviorSubject would only complete.
  const state$ = new ReplaySubject<ListenerState>(1)
  state$.next({ status: 'idle' })
  let connectedBefore = false
  connection.states$.pipe(skip(1)).subscribe({
    next: (state) => {
      log?.({ event: 'state', state })
      if (state.status === 'reconnecting') metrics.reconnectAttempts += 1
      if (state.status === 'connected') {
        if (connectedBefore) metrics.reconnects += 1
        connectedBefore = true
      }
      // Users see the state first, then its effects: channels end, sends are refused.
      state$.next(state)
      if (state.status === 'failed') {
        router.fail(state.error)
        batcher.refuseAll(state.error)
      }
    },
    complete: () => state$.complete(),
  })

  const notify$: Observer<NotificationToSend> = {
    next: (notification) => {
      // JavaScript callers can pass anything: a bare channel name once sent an empty payload on that channel.
      if (!isObjectArgument(notification)) {
        report(batcher.refuse(new InvalidSinkValueError({ sink: 'notify$', expected: NOTIFY_SINK_SHAPE, value: notification })))
        return
      }
      // A missing payload is ''; anything else, null included, is validated as the payload (as `notify` does).
      const error = batcher.enqueue(notification.channel, notification.payload === undefined ? '' : notification.payload)
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
      // An adapter's session ends, and its source gives back what it took, once its UNLISTENs are answered on a
      // connection it does not own (so a channel the application LISTENs to after close() is not UNLISTENed
      // after it): waited for, but a server that stopped answering never answers, so no longer than closeTimeout.
      const ended = Promise.all([connection.close(), batcher.close()]).then(() => baseSource.close?.())
      await settlesWithin(ended, batcher.closeTimeout, scheduler)
      errors$.complete()
    })()
    return closing
  }

  return {
    channel: (name) => router.channel(name),
    listening: (name) => {
      assertChannelName(name)
      return connection.inEffectChanges$.pipe(
        startWith(undefined),
        map(() => connection.isInEffect(name)),
        distinctUntilChanged(),
      )
    },
    notify$,
    notify: (channel, payload = '') =>
      new Promise<void>((resolve, reject) => {
        const error = batcher.enqueue(channel, payload, { resolve, reject })
        if (error) reject(error)
      }),
    isOwnNotification: (notification) => transport.processIds.has(notification.processId),
    metrics,
    state$: state$.asObservable(),
    errors$: errors$.asObservable(),
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * What a failed self-probe send means for the listener: refused by PostgreSQL (a read-only server), delivery
 * is broken for good; otherwise the sending connection failed, which is classified like a connection error
 * (a wrong password stops the listener, anything else is retried).
 */
function probeFailure(
  error: unknown,
  classify: (error: unknown) => ConnectionRejectedError | ConnectionLostError,
  redact: (text: string) => string,
): DeliveryBrokenError | ConnectionRejectedError | ConnectionLostError {
  if (!(error instanceof SendFailure)) return classify(error)
  if (error.kind === 'rejected') {
    return new DeliveryBrokenError({ reason: 'notify-refused', ...driverFacts(error.original, redact) }, { cause: redactedCause(error.original, redact) })
  }
  return classify(error.original)
}
