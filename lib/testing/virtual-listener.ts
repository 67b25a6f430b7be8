import {
  NEVER,
  Observable,
  ReplaySubject,
  Subject,
  asyncScheduler,
  filter,
  map,
  merge,
  share,
  startWith,
  distinctUntilChanged,
  takeUntil,
  tap,
  type Observer,
  type SchedulerLike,
  type Subscription,
} from 'rxjs'
import { ConnectionRejectedError, DeliveryBrokenError, InvalidSinkValueError, isObjectArgument, ListenerClosedError, NOTIFY_SINK_SHAPE, type RxpgError } from '../errors.js'
import { assertChannelName, notificationProblem } from '../identifiers.js'
import { MetricsCounters } from '../metrics.js'
import type { ListenerState, NotificationToSend, PgListener, PgNotification } from '../types.js'
import { VIRTUAL_LISTENER_PROCESS_ID, notification } from './notification.js'

/**
 * A value in a channel's diagram: a payload (delivered as a notification from another process, stamped with the
 * virtual time it arrives at, as the real listener stamps `receivedAt`), or a whole `PgNotification`,
 * delivered exactly as written.
 */
export type VirtualNotification = string | PgNotification

/** What the virtual listener's `notify$` / `notify()` accepted: one entry per notification, in call order. */
export interface SentNotification {
  readonly channel: string
  readonly payload: string
}

/** Makes a hot Observable from a marble diagram: `hot` from `TestScheduler.run`'s helpers. */
export type HotMarbles = (marbles: string, values?: { [marble: string]: VirtualNotification }) => Observable<VirtualNotification>

export interface VirtualListenerOptions {
  /**
   * What each channel receives, by exact name: an Observable (usually `hot(...)`, or `cold(...)`, which then
   * starts at the channel's first subscription) or a marble string, which needs `hot` (given for you by
   * `runMarbles`' `virtualListener`). A channel not listed receives nothing but what `loopback` sends it.
   */
  readonly channels?: Readonly<Record<string, Observable<VirtualNotification> | string>> | undefined
  /**
   * The values of the letters in string diagrams; a letter without a value is its own payload ('a'). Refused
   * when no channel is drawn as a string: an Observable channel takes its values from its own `hot`/`cold`.
   */
  readonly values?: Readonly<Record<string, VirtualNotification>> | undefined
  /** Turns string diagrams into hot Observables. */
  readonly hot?: HotMarbles | undefined
  /**
   * The listener's life, drawn (`hot` or `cold` of `ListenerState`s); `state$` replays the latest one. A
   * `failed` state errors every channel with its error and makes sends fail; a `closed` one is `close()`.
   * Default: connected from the start.
   */
  readonly state?: Observable<ListenerState> | undefined
  /**
   * Deliver what is sent back to subscribers of its channel, as PostgreSQL does for a process that listens to
   * the channel it notifies: in the same frame, after the current work, with the virtual listener's own
   * `processId` (so `isOwnNotification` is true). Default false.
   */
  readonly loopback?: boolean | undefined
  /** The listener's own backend process id, the one `isOwnNotification` recognises. Default `VIRTUAL_LISTENER_PROCESS_ID`. */
  readonly processId?: number | undefined
  /** Clock for `receivedAt` and loopback. Default `asyncScheduler`, which is virtual inside `TestScheduler.run`. */
  readonly scheduler?: SchedulerLike | undefined
}

/** A `PgListener` driven by diagrams, with what it was asked to send on `sent$`. */
export interface VirtualListener extends PgListener {
  /**
   * Every notification accepted by `notify$.next()` or `notify()`, in the frame it was sent. Refused ones (bad
   * name, payload too large, after close) are not here: they go to `errors$` or reject, as in the real one.
   * Hot: subscribe before the first send (`expectObservable` subscribes at frame 0). Completes on `close()`.
   */
  readonly sent$: Observable<SentNotification>
  /** The backend process id of this listener's own notifications. */
  readonly processId: number
}

type Terminal = { readonly kind: 'closed' } | { readonly kind: 'failed'; readonly error: ConnectionRejectedError | DeliveryBrokenError }

/**
 * A `PgListener` for marble tests: channels are the Observables you draw, made hot, shared and ref-counted
 * exactly like the real ones (the drawn source is subscribed at a channel's first subscriber and
 * unsubscribed after its last, so `expectSubscriptions` proves your logic lets go), and what your logic
 * sends is validated like the real sink and recorded on `sent$`.
 *
 * ```ts
 * runMarbles(({ hot, expectObservable }) => {
 *   const db = createVirtualListener({ channels: { orders: hot('-a--b-', { a: '{"id":1}', b: '{"id":2}' }) } })
 *   expectObservable(db.channel('orders').pipe(map((n) => n.payload)), '^-----!').toBe('-a--b-', { a: '{"id":1}', b: '{"id":2}' })
 * })
 * ```
 */
export function createVirtualListener(options: VirtualListenerOptions = {}): VirtualListener {
  if (options.values !== undefined && !Object.values(options.channels ?? {}).some((drawn) => typeof drawn === 'string')) {
    // Left unused, each letter of an Observable channel would arrive as its own payload ('p'), and the test
    // would check something else than it reads.
    throw new TypeError(
      'createVirtualListener: values apply to channels drawn as strings only, and no channel is: give the values to hot(...) or cold(...) instead (hot(\'-p-\', { p: payload }))',
    )
  }
  const scheduler = options.scheduler ?? asyncScheduler
  const processId = options.processId ?? VIRTUAL_LISTENER_PROCESS_ID
  const counts = { received: 0, sent: 0, sendFailures: 0 }
  // No sending connection here: nothing to reconnect.
  const counters = new MetricsCounters(() => ({ ...counts, sendReconnects: 0, queueDepth: 0 }))
  const state$ = new ReplaySubject<ListenerState>(1)
  let current: ListenerState = { status: 'idle' }
  let connectedBefore = false
  /** Subscribers per channel, and a signal when a channel gains its first or loses its last: for `listening`. */
  const subscribers = new Map<string, number>()
  const demand$ = new Subject<void>()
  const errors$ = new Subject<RxpgError>()
  const sent$ = new Subject<SentNotification>()
  const looped$ = new Subject<PgNotification>()
  /** Emits once, when the listener ends (closed or failed): every channel stops taking notifications then. */
  const ended$ = new ReplaySubject<void>(1)
  /** Then completes (closed) or errors (failed), which ends every channel the same way. */
  const ending$ = new Subject<never>()
  const channels = new Map<string, Observable<PgNotification>>()
  let terminal: Terminal | undefined
  let stateScript: Subscription | undefined

  const report = (error: RxpgError) => {
    if (errors$.observed) errors$.next(error)
    else process.emitWarning(error)
  }

  function scripted(name: string): Observable<VirtualNotification> {
    const drawn = options.channels !== undefined && Object.hasOwn(options.channels, name) ? options.channels[name] : undefined
    if (drawn === undefined) return NEVER
    if (typeof drawn !== 'string') return drawn
    if (options.hot === undefined) {
      throw new TypeError(
        `createVirtualListener: channel ${JSON.stringify(name)} is drawn as a string, which needs options.hot (use runMarbles' virtualListener, or pass hot(...) Observables).`,
      )
    }
    // As in RxJS diagrams without values, a letter that has no value stands for itself (here: its payload).
    const values: { [marble: string]: VirtualNotification } = { ...options.values }
    for (const letter of drawn.match(/[A-Za-z0-9]/g) ?? []) if (!Object.hasOwn(values, letter)) values[letter] = letter
    return options.hot(drawn, values)
  }

  function channel(name: string): Observable<PgNotification> {
    assertChannelName(name)
    const existing = channels.get(name)
    if (existing) return existing
    const shared = merge(
      scripted(name).pipe(map((value) => drawnNotification(name, value, scheduler.now()))),
      looped$.pipe(filter((sent) => sent.channel === name)),
    ).pipe(
      tap(() => (counts.received += 1)),
      takeUntil(ended$),
      (delivered) => merge(delivered, ending$),
      share(),
    )
    // A late subscriber of an ended listener gets the end at once, without touching the drawn source.
    const observable = new Observable<PgNotification>((subscriber) => {
      if (terminal?.kind === 'failed') return subscriber.error(terminal.error)
      if (terminal?.kind === 'closed') return subscriber.complete()
      countSubscriber(name, +1)
      const subscription = shared.subscribe(subscriber)
      return () => {
        subscription.unsubscribe()
        countSubscriber(name, -1)
      }
    })
    channels.set(name, observable)
    return observable
  }

  function countSubscriber(name: string, change: 1 | -1): void {
    const count = (subscribers.get(name) ?? 0) + change
    if (count === 0) subscribers.delete(name)
    else subscribers.set(name, count)
    if (count === 0 || (count === 1 && change === 1)) demand$.next()
  }

  /** As on the real listener: in effect while connected and subscribed. */
  function listening(name: string): Observable<boolean> {
    assertChannelName(name)
    return merge(state$, demand$).pipe(
      map(() => current.status === 'connected' && subscribers.has(name)),
      startWith(current.status === 'connected' && subscribers.has(name)),
      distinctUntilChanged(),
    )
  }

  function setState(state: ListenerState): void {
    current = state
    if (state.status === 'reconnecting') counters.reconnectAttempts += 1
    if (state.status === 'connected') {
      if (connectedBefore) counters.reconnects += 1
      connectedBefore = true
    }
    state$.next(state)
  }

  function end(next: Terminal): void {
    if (terminal !== undefined) return
    terminal = next
    ended$.next()
    if (next.kind === 'failed') ending$.error(next.error)
    else ending$.complete()
  }

  function refusal(channelName: string, payload: unknown): RxpgError | undefined {
    const problem = notificationProblem(channelName, payload)
    if (problem) return problem
    if (terminal?.kind === 'failed') return terminal.error
    if (terminal?.kind === 'closed') return new ListenerClosedError({ operation: `notify on channel ${JSON.stringify(channelName)}` })
    return undefined
  }

  /** Validates and records one notification; returns the refusal instead when it is refused. */
  function send(channelName: string, payload: string): RxpgError | undefined {
    const error = refusal(channelName, payload)
    if (error) {
      counts.sendFailures += 1
      return error
    }
    counts.sent += 1
    sent$.next({ channel: channelName, payload })
    if (options.loopback === true) {
      scheduler.schedule(() => looped$.next({ channel: channelName, payload, processId, receivedAt: scheduler.now() }))
    }
    return undefined
  }

  const notify$: Observer<NotificationToSend> = {
    next: (toSend) => {
      // Refused as the real sink refuses it (create-pg-listener.ts): a bare channel name sends nothing there.
      if (!isObjectArgument(toSend)) {
        counts.sendFailures += 1
        report(new InvalidSinkValueError({ sink: 'notify$', expected: NOTIFY_SINK_SHAPE, value: toSend }))
        return
      }
      const error = send(toSend.channel, toSend.payload === undefined ? '' : toSend.payload)
      if (error) report(error)
    },
    error: () => undefined,
    complete: () => undefined,
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      stateScript?.unsubscribe()
      end({ kind: 'closed' })
      setState({ status: 'closed' })
      state$.complete()
      demand$.complete()
      errors$.complete()
      sent$.complete()
      resolve()
    })
    return closing
  }

  if (options.state === undefined) {
    setState({ status: 'connected', processId })
  } else {
    stateScript = options.state.subscribe({
      next: (state) => {
        if (state.status === 'closed') return void close()
        setState(state)
        if (state.status === 'failed') end({ kind: 'failed', error: state.error })
      },
      error: (error: unknown) => state$.error(error),
    })
  }

  return {
    channel,
    listening,
    notify$,
    notify: (channelName, payload = '') => {
      const error = send(channelName, payload)
      return error ? Promise.reject(error) : Promise.resolve()
    },
    state$: state$.asObservable(),
    errors$: errors$.asObservable(),
    sent$: sent$.asObservable(),
    processId,
    isOwnNotification: (received) => received.processId === processId,
    metrics: counters,
    close,
    [Symbol.asyncDispose]: close,
  }
}

/**
 * A drawn value as the notification it stands for. Anything else is a mistake in the diagram (an RxJS `hot()`
 * emits `undefined` for a letter missing from its values): said here, at its frame, rather than as a TypeError
 * somewhere downstream.
 */
function drawnNotification(channel: string, value: unknown, now: number): PgNotification {
  if (typeof value === 'string') return notification(channel, value, { receivedAt: now })
  const drawn = value as Partial<PgNotification> | null | undefined
  if (typeof drawn === 'object' && drawn !== null && typeof drawn.channel === 'string' && typeof drawn.payload === 'string') return drawn as PgNotification
  throw new TypeError(
    `rxpg/testing: channel ${JSON.stringify(channel)} drew ${value === undefined ? 'undefined' : JSON.stringify(value)} at frame ${now}: a drawn value is a payload string or a PgNotification (with hot(...) of your own, give every letter a value)`,
  )
}
