import { Observable, Subject, type Subscriber } from 'rxjs'
import { assertChannelName } from './identifiers.js'
import type { ChannelDemand, DemandChange } from './ports/channel-demand.js'
import type { RawNotification } from './ports/notification-source.js'
import type { PgNotification } from './types.js'

/** A channel's route: its one subscriber, or its subscribers when there are several. */
type Route = Subscriber<PgNotification> | ChannelSubscribers

type Terminal = { readonly kind: 'failed'; readonly error: unknown } | { readonly kind: 'closed' }

/**
 * Turns channel names into hot, ref-counted Observables and routes each notification to its channel by exact
 * name through a Map, so the cost of one delivery does not depend on how many channels are listened. Which
 * channels have subscribers is its `ChannelDemand`: the listening connection keeps them LISTENed.
 */
export class ChannelRouter implements ChannelDemand {
  /** Channels that have subscribers, each with its subscribers. */
  private readonly live = new Map<string, ChannelSubscribers>()
  /**
   * What a delivery reads, kept in step with `live` by `reroute`: a channel's subscriber itself when it has one
   * (the usual case), its `ChannelSubscribers` when it has several. With thousands of channels each delivery
   * lands on a different route, and every object on the way is a likely cache miss: this saves one.
   */
  private readonly routes = new Map<string, Route>()
  /**
   * Observables handed out, held weakly: the same name gives the same Observable while anyone holds it,
   * without keeping every name ever used alive forever.
   */
  private readonly handedOut = new Map<string, WeakRef<Observable<PgNotification>>>()
  private readonly forget = new FinalizationRegistry<string>((name) => {
    if (this.handedOut.get(name)?.deref() === undefined) this.handedOut.delete(name)
  })
  private terminal: Terminal | undefined
  private readonly demand = new Subject<DemandChange>()
  /** Notifications delivered to a channel with subscribers. */
  received = 0

  readonly changes$ = this.demand.asObservable()


  channels(): Iterable<string> {
    return this.live.keys()
  }

  wants(channel: string): boolean {
    return this.live.has(channel)
  }

  channel(name: string): Observable<PgNotification> {
    assertChannelName(name)
    const existing = this.handedOut.get(name)?.deref()
    if (existing) return existing
    const observable = new Observable<PgNotification>((subscriber) => this.subscribe(name, subscriber))
    this.handedOut.set(name, new WeakRef(observable))
    this.forget.register(observable, name)
    return observable
  }

  /**
   * The hot path: one Map lookup and one object per notification, whatever the number of channels.
   * `receivedAt` is when the connection received it (its socket read), on the listener's clock.
   */
  readonly deliver = (notification: RawNotification, receivedAt: number): void => {
    const route = this.routes.get(notification.channel)
    if (route === undefined) return
    this.received += 1
    const value: PgNotification = {
      channel: notification.channel,
      payload: notification.payload,
      processId: notification.processId,
      receivedAt,
    }
    if (!(route instanceof ChannelSubscribers)) {
      route.next(value)
      return
    }
    const current = route.current()
    for (let index = 0; index < current.length; index++) (current[index] as Subscriber<PgNotification>).next(value)
  }

  /** Errors the subscribers of one channel with `error`, which is then no longer wanted; the others go on. */
  refuse(channel: string, error: unknown): void {
    const subscribers = this.live.get(channel)
    if (subscribers === undefined) return
    // Out of the map first: the teardowns the errors trigger find nothing to UNLISTEN one by one.
    this.live.delete(channel)
    this.routes.delete(channel)
    this.demand.next({ channel, wanted: false })
    for (const subscriber of subscribers.current()) subscriber.error(error)
  }

  /** Errors every channel (and every later subscription) with `error`. */
  fail(error: unknown): void {
    this.end({ kind: 'failed', error })
  }

  /** Completes every channel (and every later subscription). */
  close(): void {
    this.end({ kind: 'closed' })
  }

  private subscribe(name: string, subscriber: Subscriber<PgNotification>): (() => void) | undefined {
    if (this.terminal !== undefined) {
      if (this.terminal.kind === 'failed') subscriber.error(this.terminal.error)
      else subscriber.complete()
      return undefined
    }
    let subscribers = this.live.get(name)
    const first = subscribers === undefined
    if (subscribers === undefined) {
      subscribers = new ChannelSubscribers()
      this.live.set(name, subscribers)
    }
    subscribers.add(subscriber)
    this.reroute(name, subscribers)
    if (first) this.demand.next({ channel: name, wanted: true })
    const own = subscribers
    return () => {
      // After close() or fail() the map no longer holds this channel: nothing to UNLISTEN.
      if (!own.remove(subscriber) || this.live.get(name) !== own) return
      this.reroute(name, own)
      if (own.size > 0) return
      this.live.delete(name)
      this.demand.next({ channel: name, wanted: false })
    }
  }

  /** Brings a channel's route in step with its subscribers after a change. */
  private reroute(name: string, subscribers: ChannelSubscribers): void {
    if (subscribers.size === 0) this.routes.delete(name)
    else this.routes.set(name, subscribers.sole ?? subscribers)
  }

  private end(terminal: Terminal): void {
    if (this.terminal !== undefined) return
    this.terminal = terminal
    this.demand.complete()
    const subscribers = [...this.live.values()].flatMap((channel) => channel.current())
    // Cleared first so that the teardowns the completions trigger do not UNLISTEN one by one.
    this.live.clear()
    this.routes.clear()
    for (const subscriber of subscribers) {
      if (terminal.kind === 'failed') subscriber.error(terminal.error)
      else subscriber.complete()
    }
  }
}

/**
 * One channel's subscribers. A delivery walks a snapshot taken lazily after each change (copy on write, as an
 * RxJS Subject does), so a subscriber arriving or leaving during a delivery does not disturb it, subscribing
 * stays O(1), and the hot path allocates nothing while the set is unchanged.
 */
class ChannelSubscribers {
  private readonly all: Subscriber<PgNotification>[] = []
  private snapshot: readonly Subscriber<PgNotification>[] | undefined
  get size(): number {
    return this.all.length
  }

  add(subscriber: Subscriber<PgNotification>): void {
    this.all.push(subscriber)
    this.snapshot = undefined
  }

  /** False when `subscriber` was not (or no longer) here. */
  remove(subscriber: Subscriber<PgNotification>): boolean {
    const index = this.all.indexOf(subscriber)
    if (index < 0) return false
    this.all.splice(index, 1)
    this.snapshot = undefined
    return true
  }

  /**
   * The subscriber when there is exactly one, the usual case: the router's route for the channel, so a delivery
   * calls it without reading this object, the array and its snapshot. The same semantics as the snapshot: a
   * subscriber arriving during its delivery does not get that notification.
   */
  get sole(): Subscriber<PgNotification> | undefined {
    return this.all.length === 1 ? this.all[0] : undefined
  }

  current(): readonly Subscriber<PgNotification>[] {
    return (this.snapshot ??= this.all.slice())
  }
}
