/**
 * The stream's position, written as each event's SSE `id` and read back from `Last-Event-ID`.
 *
 * A stream of one resumable channel writes that channel's token as it is, so the id a browser keeps is the
 * source's own token (a client can pass it to `log.read(channel, { from })` itself). A stream of several
 * channels writes them all in one id, as a query string (`orders=rxd1…&prices=`): every channel keeps its own
 * position, since one token cannot say where several independent sources stand. A live-only channel is
 * listed with an empty position, so a reconnection knows it was there and what it may have missed; a
 * resumable channel that has no position yet is left out (it starts fresh).
 */

import { isFieldSafe } from './framing.js'

export interface CursorChannel {
  readonly name: string
  readonly resumable: boolean
}

/** Where each channel of a reconnecting stream starts, read from its `Last-Event-ID`. */
export interface ResumePlan {
  /** The position to open each resumable channel from (absent: a fresh start). */
  readonly from: ReadonlyMap<string, string>
  /** Live-only channels the previous stream had: they get a `live-only` reset. */
  readonly missed: readonly string[]
  /** Every channel, for an id that names none of this stream's channels (not an id of this endpoint) or holds CR, LF or NUL: they get an `invalid` reset. */
  readonly unrecognised: readonly string[]
}

export class StreamCursor {
  private readonly positions = new Map<string, string | undefined>()
  private readonly verbatim: boolean
  private encoded: string | undefined

  constructor(private readonly channels: readonly CursorChannel[]) {
    this.verbatim = channels.length === 1 && channels[0]!.resumable
    for (const channel of channels) this.positions.set(channel.name, undefined)
  }

  set(name: string, position: string | undefined): void {
    if (this.positions.get(name) === position) return
    this.positions.set(name, position)
    this.encoded = undefined
  }

  get(name: string): string | undefined {
    return this.positions.get(name)
  }

  /** The SSE id for the current positions (computed once per change: every event writes it). */
  toString(): string {
    return (this.encoded ??= this.encode())
  }

  private encode(): string {
    if (this.verbatim) return this.positions.get(this.channels[0]!.name) ?? ''
    const query = new URLSearchParams()
    for (const channel of this.channels) {
      const position = this.positions.get(channel.name)
      if (!channel.resumable) query.append(channel.name, '')
      else if (position !== undefined) query.append(channel.name, position)
    }
    return query.toString()
  }

  /** Where each channel resumes after `lastEventId` (undefined or empty: a first connection, everything fresh). */
  static plan(channels: readonly CursorChannel[], lastEventId: string | undefined): ResumePlan {
    const from = new Map<string, string>()
    const missed: string[] = []
    if (lastEventId === undefined || lastEventId === '') return { from, missed, unrecognised: [] }
    // Every channel, live-only ones too: nothing else tells a live-only channel's client that it may have missed
    // events.
    const everyChannel = { from, missed, unrecognised: channels.map((channel) => channel.name) }
    // No id this endpoint wrote holds CR, LF or NUL; written back as an id, such a one would end the field and
    // write events of the sender's own (a crafted ?lastEventId= link). It names no position: an invalid reset.
    if (!isFieldSafe(lastEventId)) return everyChannel
    if (channels.length === 1 && channels[0]!.resumable) {
      const channel = channels[0]!.name
      // The channel's own token, or the id of a stream of several channels that names it (a page that kept the
      // id of a stream of orders and prices, opening one of orders). A durable token holds no `=`.
      const named = lastEventId.includes('=') ? new URLSearchParams(lastEventId).get(channel) : null
      from.set(channel, named === null || named === '' ? lastEventId : named)
      return { from, missed, unrecognised: [] }
    }
    const query = new URLSearchParams(lastEventId)
    let recognised = false
    for (const channel of channels) {
      const position = query.get(channel.name)
      if (position === null) continue
      recognised = true
      if (!channel.resumable) missed.push(channel.name)
      else if (position !== '') from.set(channel.name, position)
    }
    // A channel missing from an id that names others was added to the stream since: it starts fresh. An id that
    // names none of them is not one this stream wrote: starting fresh would be a silent restart.
    return recognised ? { from, missed, unrecognised: [] } : everyChannel
  }
}
