import { Subscription, type Observable, type SchedulerLike } from 'rxjs'
import { END_EVENT, READY_EVENT, RESET_EVENT, type EndData, type EndReason, type ResetReason } from '../browser/protocol.js'
import { SilenceTimer } from '../operators/silence-timer.js'
import { MAX_TIMER_MS } from '../timer-limit.js'
import { BoundedWriter } from './bounded-writer.js'
import type { FrameCache } from './frame-cache.js'
import { eventFrame, HEARTBEAT_FRAME, isFieldSafe, retryField, utf8Length } from './framing.js'
import { isPosition, type SourceItem, type SseSource } from './source.js'
import { StreamCursor, type CursorChannel } from './stream-cursor.js'
import type { TransportFactory } from './transport.js'

/** Why a stream ended: the server's reasons, `'client-closed'` (the client went away) or `'slow'` (cut off). */
export type StreamEndReason = EndReason | 'client-closed' | 'slow'

/** One finished stream, as the endpoint counts it. */
export interface StreamSummary {
  readonly reason: StreamEndReason
  /** The most bytes it held at once (its queue and the transport's buffer). */
  readonly maxHeldBytes: number
  readonly eventsWritten: number
}

export interface SessionChannel {
  readonly name: string
  readonly source: SseSource<unknown>
  readonly frames: FrameCache<unknown>
}

export interface SessionOptions {
  readonly channels: readonly SessionChannel[]
  readonly lastEventId: string | undefined
  /** Per-event authorization, already bound to the connection's user. */
  readonly canSee: ((channel: string, value: unknown) => boolean) | undefined
  readonly heartbeat: number | false
  readonly retry: number
  readonly maxLifetime: number | false
  /** When the connection's credential expires (scheduler clock, ms). */
  readonly expiresAt: number | undefined
  /** Emits (or completes) when the application revokes the connection's access. */
  readonly revoked: Observable<unknown> | undefined
  readonly maxBufferedBytes: number
  readonly drainTimeout: number
  readonly scheduler: SchedulerLike
  readonly onError: (error: unknown, channel: string | undefined) => void
  readonly onEnd: (summary: StreamSummary) => void
}

/** One channel's state within a stream. */
interface ChannelState {
  readonly channel: SessionChannel
  subscription: Subscription | undefined
  /** A reset to write once the fresh start knows where it stands. */
  pendingReset: ResetReason | undefined
  /** Opened without a position: a reset then is a failure of the source, not of the client's position. */
  fresh: boolean
  /** Paused for a slow client: to be opened again from its position once the client drained. */
  paused: boolean
  /** Knows where it stands (a position, an event, or live-only): the ready event waits for all of them. */
  settled: boolean
  completed: boolean
}

/**
 * One client's stream: opens each channel from the client's position, writes every event the client may see
 * (with the stream's position as its id), heartbeats while quiet, and ends it on purpose (lifetime, expired
 * or revoked credential, shutdown, a failed source) with an end event, or cuts a slow client off.
 *
 * Back-pressure: frames wait in a byte-counted queue while the transport is full. Past half the bound, the
 * resumable channels are paused (unsubscribed: the log, not this process, holds what follows) and opened
 * again from their positions once the queue drained; a client that takes nothing for `drainTimeout`, or a
 * queue past the bound while a live-only channel keeps adding to it, is cut off. It reconnects and resumes
 * from the last event it received.
 */
export class StreamSession {
  private readonly writer: BoundedWriter
  private readonly transport
  private readonly cursor: StreamCursor
  private readonly cursorChannels: readonly CursorChannel[]
  private readonly states: ChannelState[]
  private readonly timers: Subscription[] = []
  private heartbeat: SilenceTimer | undefined
  private drainTimer: Subscription | undefined
  private ready = false
  private ended: StreamEndReason | undefined
  /** Events written so far (read by the endpoint's figures). */
  eventsWritten = 0

  constructor(
    transport: TransportFactory,
    private readonly options: SessionOptions,
  ) {
    this.transport = transport({ drained: () => this.drained(), closed: () => this.finish('client-closed') })
    this.writer = new BoundedWriter(this.transport, () => this.blocked())
    this.cursorChannels = options.channels.map(({ name, source }) => ({ name, resumable: source.resumable }))
    this.cursor = new StreamCursor(this.cursorChannels)
    this.states = options.channels.map((channel) => ({
      channel,
      subscription: undefined,
      pendingReset: undefined,
      fresh: true,
      paused: false,
      settled: !channel.source.resumable,
      completed: false,
    }))
  }

  /** The most bytes this stream held at once. */
  get maxHeldBytes(): number {
    return this.writer.maxHeldBytes
  }

  /** True once the stream ended, for whatever reason. */
  get closed(): boolean {
    return this.ended !== undefined
  }

  start(): void {
    const { options } = this
    const plan = StreamCursor.plan(this.cursorChannels, options.lastEventId)
    this.write(retryField(options.retry) + '\n')
    // Where every channel starts, and which resets it owes, is decided before any source opens: a source can
    // stand somewhere at once, and the ready event written then must find every reset already pending.
    for (const state of this.states) {
      const from = plan.from.get(state.channel.name)
      if (from !== undefined) {
        this.cursor.set(state.channel.name, from)
        state.settled = true
      }
      if (plan.unrecognised.includes(state.channel.name)) state.pendingReset = 'invalid'
      if (plan.missed.includes(state.channel.name)) state.pendingReset = 'live-only'
    }
    for (const state of this.states) {
      this.open(state, plan.from.get(state.channel.name))
      if (this.closed) return
    }
    this.settle()
    if (options.heartbeat !== false) this.heartbeat = new SilenceTimer(options.scheduler, options.heartbeat, () => this.write(HEARTBEAT_FRAME))
    if (options.maxLifetime !== false) this.timers.push(options.scheduler.schedule(() => this.end('lifetime'), options.maxLifetime))
    if (options.expiresAt !== undefined) {
      // In steps a timer can wait (timer-limit.ts): a credential valid for 30 days must not end the stream at once.
      const expiresAt = options.expiresAt
      const wait = () => {
        const left = expiresAt - options.scheduler.now()
        this.timers.push(options.scheduler.schedule(() => (left > MAX_TIMER_MS ? wait() : this.end('credential-expired')), Math.min(Math.max(0, left), MAX_TIMER_MS)))
      }
      wait()
    }
    if (options.revoked !== undefined) {
      this.timers.push(options.revoked.subscribe({ next: () => this.end('revoked'), complete: () => this.end('revoked'), error: () => this.end('revoked') }))
    }
  }

  /** Ends the stream with an end event: `retry` tells the client how long to wait before reconnecting. */
  end(reason: EndReason, retry?: number): void {
    if (this.closed) return
    if (this.writer.blocked) {
      // The client is not reading: an end event would wait behind what it has not taken. Drop it; it resumes.
      this.finish(reason)
      this.transport.destroy()
      return
    }
    const data: EndData = retry === undefined ? { reason } : { reason, retry }
    this.write((retry === undefined ? '' : retryField(retry)) + eventFrame(END_EVENT, JSON.stringify(data), this.cursor.toString()))
    this.finish(reason)
    this.transport.end()
  }

  private open(state: ChannelState, from: string | undefined): void {
    state.fresh = from === undefined
    state.paused = false
    state.completed = false
    const source = state.channel.source.open(from)
    // Held before subscribing, so a pause during a synchronous burst stops the burst at once.
    const subscription = new Subscription()
    state.subscription = subscription
    subscription.add(
      source.subscribe({
        next: (item) => (subscription.closed ? undefined : this.receive(state, item)),
        error: (error: unknown) => (subscription.closed ? undefined : this.failed(state, error)),
        complete: () => (subscription.closed ? undefined : this.completed(state)),
      }),
    )
    const missed = state.channel.source.missed
    if (missed !== undefined) subscription.add(missed.subscribe({ next: () => (subscription.closed ? undefined : this.missedUpstream(state)), error: () => undefined }))
  }

  /** The source's upstream may have lost events: the client is told, as after its own reconnection. */
  private missedUpstream(state: ChannelState): void {
    if (this.closed) return
    state.pendingReset = 'live-only'
    if (this.ready) this.writeReset(state)
  }

  private receive(state: ChannelState, item: SourceItem<unknown>): void {
    if (this.closed) return
    const name = state.channel.name
    if (isPosition(item)) {
      this.cursor.set(name, item.position)
      this.settleChannel(state)
      return
    }
    if (item.token !== undefined && !isFieldSafe(item.token)) {
      // Written as an id it would end the field and forge what follows: a source's mistake, never written.
      return this.failed(state, new TypeError(`rxpg/sse: channel ${name} gave the token ${JSON.stringify(item.token)}, which cannot be an SSE id: a token holds no CR, LF or NUL`))
    }
    if (state.pendingReset !== undefined) this.writeReset(state)
    // Settled before the cursor moves: a ready event written now (a channel that starts with an event, such as a
    // fresh start from the earliest) carries the position before this event, so a client cut off right after
    // the ready event resumes with it, not after it.
    this.settleChannel(state)
    if (item.token !== undefined) this.cursor.set(name, item.token)
    if (this.options.canSee !== undefined && !this.sees(name, item.value)) return
    // A client already holding more than the bound is cut off before another live event is queued for it: it
    // holds at most the bound plus one event, and one event larger than the bound still goes out whole.
    if (this.writer.blocked && this.writer.heldBytes > this.options.maxBufferedBytes && this.livePushing()) return this.cutOff()
    const frame = state.channel.frames.frame(item, this.cursor.toString())
    this.eventsWritten += 1
    this.heartbeat?.touch()
    for (const chunk of frame.chunks) this.writer.write(chunk, chunk === frame.chunks[0] ? frame.bytes : 0)
    this.afterWrite()
  }

  /**
   * `canSee`, failing closed: an event whose check throws (a value the check did not expect, such as a `null`
   * any writer of the log can append) is kept back and reported to `onError`, and the stream goes on. Thrown
   * out of the source's subscriber, it would end the process.
   */
  private sees(channel: string, value: unknown): boolean {
    try {
      return this.options.canSee!(channel, value)
    } catch (error) {
      this.options.onError(error, channel)
      return false
    }
  }

  private failed(state: ChannelState, error: unknown): void {
    if (this.closed) return
    const reason = state.channel.source.isReset?.(error)
    if (reason !== undefined && !state.fresh) {
      // The client's position cannot be resumed: start this channel afresh and tell the client to reload.
      this.cursor.set(state.channel.name, undefined)
      state.settled = false
      state.pendingReset = reason
      // What the errored subscription held beside the source (a `missed` subscription) ends with it.
      state.subscription?.unsubscribe()
      this.open(state, undefined)
      return
    }
    this.options.onError(error, state.channel.name)
    this.end('error')
  }

  private completed(state: ChannelState): void {
    state.completed = true
    state.subscription?.unsubscribe()
    state.subscription = undefined
    if (!state.paused && this.states.every((each) => each.completed)) this.end('complete')
  }

  private settleChannel(state: ChannelState): void {
    if (!state.settled) {
      state.settled = true
      this.settle()
    }
    if (this.ready && state.pendingReset !== undefined) this.writeReset(state)
  }

  /** Writes the ready event once every channel knows where it stands, then the resets that waited for it. */
  private settle(): void {
    if (this.ready || !this.states.every((state) => state.settled)) return
    this.ready = true
    this.writeControl(READY_EVENT, { channels: this.options.channels.map(({ name }) => name) })
    for (const state of this.states) if (state.pendingReset !== undefined) this.writeReset(state)
  }

  private writeReset(state: ChannelState): void {
    const reason = state.pendingReset!
    state.pendingReset = undefined
    this.writeControl(RESET_EVENT, { channel: state.channel.name, reason })
  }

  private writeControl(name: string, data: object): void {
    this.write(eventFrame(name, JSON.stringify(data), this.cursor.toString()))
  }

  private write(text: string, bytes = utf8Length(text)): void {
    if (this.closed) return
    this.heartbeat?.touch()
    this.writer.write(text, bytes)
  }

  /** After an event: past half the bound, pause what can wait (what cannot is cut off at its next event). */
  private afterWrite(): void {
    // While the transport takes every write, nothing is held here.
    if (!this.writer.blocked) return
    if (this.writer.heldBytes < this.options.maxBufferedBytes / 2) return
    for (const state of this.states) {
      if (state.subscription === undefined || !this.pausable(state)) continue
      state.paused = true
      state.subscription.unsubscribe()
      state.subscription = undefined
    }
  }

  /** True while a channel that cannot pause (live-only, or not yet positioned) is subscribed. */
  private livePushing(): boolean {
    return this.states.some((state) => state.subscription !== undefined && !this.pausable(state))
  }

  private pausable(state: ChannelState): boolean {
    return state.channel.source.resumable && this.cursor.get(state.channel.name) !== undefined && state.pendingReset === undefined
  }

  private blocked(): void {
    this.drainTimer ??= this.options.scheduler.schedule(() => this.cutOff(), this.options.drainTimeout)
  }

  private drained(): void {
    if (this.closed) return
    // Progress restarts the time-out: only a client that takes nothing for drainTimeout is cut off.
    this.drainTimer?.unsubscribe()
    this.drainTimer = undefined
    if (!this.writer.drained()) return
    for (const state of this.states) {
      if (!state.paused || this.closed) continue
      this.open(state, this.cursor.get(state.channel.name))
    }
  }

  private cutOff(): void {
    if (this.closed) return
    this.stopSources()
    this.transport.destroy()
    this.finish('slow')
  }

  private stopSources(): void {
    for (const state of this.states) {
      state.subscription?.unsubscribe()
      state.subscription = undefined
    }
  }

  private finish(reason: StreamEndReason): void {
    if (this.closed) return
    this.ended = reason
    this.stopSources()
    this.heartbeat?.stop()
    this.drainTimer?.unsubscribe()
    for (const timer of this.timers) timer.unsubscribe()
    this.writer.clear()
    this.options.onEnd({ reason, maxHeldBytes: this.writer.maxHeldBytes, eventsWritten: this.eventsWritten })
  }
}
