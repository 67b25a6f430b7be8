import type { Subscription } from 'rxjs'
import type { ListenSession } from '../ports/notification-source.js'

type ListenChange = 'listen' | 'unlisten'

export interface ListenSyncEvents {
  /** A batch was confirmed: what is in effect changed. */
  confirmed(): void
  /** A change was asked for or went out, which can end what was in effect (an UNLISTEN on its way). */
  changed(): void
  /** The server refused a batch, or the connection broke while it ran. */
  failed(error: unknown): void
}

/**
 * Keeps one session's LISTEN set equal to the channels wanted, one batch at a time.
 *
 * `onServer` is what PostgreSQL will listen to once the batch in flight succeeds, and `pending` is the
 * difference still to send, so a subscribe or unsubscribe made while a batch is in flight is neither lost nor
 * sent twice, and the work per change is O(1). `inEffect` is what the server has confirmed.
 */
export class ListenSync {
  private readonly onServer = new Set<string>()
  private readonly inEffect = new Set<string>()
  private readonly pending = new Map<string, ListenChange>()
  private inFlight: Subscription | undefined
  private started = 0
  private stopped = false

  constructor(
    private readonly session: ListenSession,
    private readonly events: ListenSyncEvents,
  ) {}

  /** LISTENs to `channels`, the session's first batch. */
  start(channels: Iterable<string>): void {
    for (const channel of channels) this.pending.set(channel, 'listen')
    this.sendPending()
  }

  want(channel: string): void {
    if (this.onServer.has(channel)) this.pending.delete(channel)
    else this.pending.set(channel, 'listen')
    this.sendPending()
    this.events.changed()
  }

  unwant(channel: string): void {
    if (this.onServer.has(channel)) this.pending.set(channel, 'unlisten')
    else this.pending.delete(channel)
    this.sendPending()
    this.events.changed()
  }

  /** Every change asked for so far is confirmed by the server. */
  get settled(): boolean {
    return this.inFlight === undefined && this.pending.size === 0
  }

  /** A batch is on the wire (itself a sign that the connection is alive). */
  get busy(): boolean {
    return this.inFlight !== undefined
  }

  /** How many batches were started: an answer read before and after a batch ran is stale. */
  get batchesStarted(): number {
    return this.started
  }

  /**
   * The server confirmed LISTEN for `channel` on this session, and no change of it is on its way: what is
   * committed from now on is delivered. An UNLISTEN in flight (the channel left, then wanted again before the
   * server answered) may already have run on the server, so the channel is not in effect until it is LISTENed again.
   */
  isInEffect(channel: string): boolean {
    return this.inEffect.has(channel) && this.onServer.has(channel) && !this.pending.has(channel)
  }

  /** What is wrong with the server's own list of LISTENs, compared with what this session sent; undefined when it matches. */
  mismatch(serverChannels: readonly string[]): string | undefined {
    const reported = new Set(serverChannels)
    for (const channel of this.onServer) if (!reported.has(channel)) return `not listening to ${JSON.stringify(channel)}`
    for (const channel of reported) if (!this.onServer.has(channel)) return `unexpectedly listening to ${JSON.stringify(channel)}`
    return undefined
  }

  /** Stops sending (the session is gone); a batch in flight is abandoned. */
  stop(): void {
    this.stopped = true
    this.inFlight?.unsubscribe()
    this.inFlight = undefined
  }

  private sendPending(): void {
    if (this.stopped || this.inFlight !== undefined || this.pending.size === 0) return
    const add: string[] = []
    const remove: string[] = []
    for (const [channel, change] of this.pending) {
      if (change === 'listen') {
        add.push(channel)
        this.onServer.add(channel)
      } else {
        remove.push(channel)
        this.onServer.delete(channel)
      }
    }
    this.pending.clear()
    this.started += 1
    let done = false
    const subscription = this.session.changeListens(add, remove).subscribe({
      error: (error: unknown) => {
        done = true
        this.inFlight = undefined
        if (!this.stopped) this.events.failed(error)
      },
      complete: () => {
        done = true
        this.inFlight = undefined
        for (const channel of remove) this.inEffect.delete(channel)
        for (const channel of add) this.inEffect.add(channel)
        if (this.stopped) return
        this.sendPending()
        this.events.confirmed()
      },
    })
    // A source that answers in the same call has already finished.
    if (!done) this.inFlight = subscription
  }
}
