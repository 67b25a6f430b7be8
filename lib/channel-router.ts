import { Observable, Subject, type Subscriber } from 'rxjs'
import { assertChannelName } from './identifiers.js'
import type { RawNotification } from './sources/notification-source.js'
import type { PgNotification } from './types.js'

export interface ChannelRouterHooks {
  /** The channel got its first subscriber: LISTEN. */
  firstSubscriber(channel: string): void
  /** The channel's last subscriber left: UNLISTEN. */
  lastUnsubscribed(channel: string): void
  /** The clock for `receivedAt`. */
  now(): number
}

type Terminal = { readonly kind: 'failed'; readonly error: unknown } | { readonly kind: 'closed' }

/**
 * Turns channel names into hot, ref-counted Observables and routes each notification to its channel by exact
 * name through a Map, so the cost of one delivery does not depend on how many channels are listened.
 */
export class ChannelRouter {
  /** Channels that have subscribers, each with the Subject its subscribers share. */
  private readonly live = new Map<string, Subject<PgNotification>>()
  /**
   * Observables handed out, held weakly: the same name gives the same Observable while anyone holds it,
   * without keeping every name ever used alive forever.
   */
  private readonly handedOut = new Map<string, WeakRef<Observable<PgNotification>>>()
  private readonly forget = new FinalizationRegistry<string>((name) => {
    if (this.handedOut.get(name)?.deref() === undefined) this.handedOut.delete(name)
  })
  private terminal: Terminal | undefined

  constructor(private readonly hooks: ChannelRouterHooks) {}

  channel(name: string): Observable<PgNotification> {
    assertChannelName(name)
    const existing = this.handedOut.get(name)?.deref()
    if (existing) return existing
    const observable = new Observable<PgNotification>((subscriber) => this.subscribe(name, subscriber))
    this.handedOut.set(name, new WeakRef(observable))
    this.forget.register(observable, name)
    return observable
  }

  /** The hot path: one Map lookup and one object per notification, whatever the number of channels. */
  deliver(notification: RawNotification): void {
    const subject = this.live.get(notification.channel)
    if (subject === undefined) return
    subject.next({
      channel: notification.channel,
      payload: notification.payload,
      processId: notification.processId,
      receivedAt: this.hooks.now(),
    })
  }

  /** Channels that currently have subscribers. */
  get subscribedChannels(): IterableIterator<string> {
    return this.live.keys()
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
    let subject = this.live.get(name)
    const first = subject === undefined
    if (subject === undefined) {
      subject = new Subject<PgNotification>()
      this.live.set(name, subject)
    }
    const subscription = subject.subscribe(subscriber)
    if (first) this.hooks.firstSubscriber(name)
    const shared = subject
    return () => {
      subscription.unsubscribe()
      if (!shared.observed && this.live.get(name) === shared) {
        this.live.delete(name)
        this.hooks.lastUnsubscribed(name)
      }
    }
  }

  private end(terminal: Terminal): void {
    if (this.terminal !== undefined) return
    this.terminal = terminal
    const subjects = [...this.live.values()]
    // Cleared first so that the teardowns the completions trigger do not UNLISTEN one by one.
    this.live.clear()
    for (const subject of subjects) {
      if (terminal.kind === 'failed') subject.error(terminal.error)
      else subject.complete()
    }
  }
}
