/**
 * @internal A reader's place in one channel and the page after it: the one step that `log.read()` (pushed) and
 * `log.iterate()` (pulled) both repeat. Each page starts exactly where the last one ended, so there is no gap
 * and no duplicate at the backlog/live boundary: both are the same query.
 */
import type { TypedChannel } from '../index.js'
import type { LogContext } from './log-context.js'
import { checkPage, cursorAfter, plainMessages, readPage, startOf, typedMessages, type Page } from './page.js'
import type { Position } from './position.js'
import type { DurableMessage, StartPosition } from './types.js'

export interface ChannelPage {
  readonly messages: readonly DurableMessage<unknown>[]
  /** The page was full: more may be readable right away. */
  readonly full: boolean
  /** Rows of the channel were committed past the horizon: readable once older transactions end (`Page.pending`). */
  readonly pending: boolean
}

/**
 * The next page each call, from `from` on; a failed call leaves the place unchanged, so the next one retries it.
 * With `readAhead`, the page after a full one is queried as soon as its rows arrive, before they are decoded and
 * handed on, so the server runs it while the client works (see docs/design.md); a failed read-ahead fails the
 * call that would have used it, and the next call reads the same page again.
 */
export function channelPages<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  from: StartPosition,
  limit: number,
  operation: string,
  readAhead = false,
): () => Promise<ChannelPage> {
  let cursor: Position | undefined
  // Expiry that happened before an 'earliest' read began is accepted: it starts after it.
  let floor: Position | undefined
  let floorPending = false
  /** The page after `cursor`, already asked for. */
  let ahead: Promise<Page> | undefined
  return async () => {
    const meta = await context.meta()
    if (cursor === undefined) {
      const start = await startOf(context, meta, channel, from, operation)
      cursor = start.position
      floorPending = start.fromEarliest
    }
    const pending = ahead ?? readPage(context, operation, channel, cursor, limit)
    ahead = undefined
    const page = await pending
    if (floorPending) {
      floor = page.expiredThrough
      floorPending = false
    }
    checkPage(page, cursor, meta, channel, floor)
    const full = page.rows.length >= limit
    const next = cursorAfter(page, cursor, full)
    if (readAhead && full) {
      ahead = readPage(context, operation, channel, next, limit)
      // Awaited by the next call; one that never comes (the reader stopped) must not warn.
      ahead.catch(() => undefined)
      // pg-pool hands out a client on the next tick, and the statement is written then: let that tick run
      // before this page's work keeps the thread busy. A tick, not a timer: fake timers in a user's tests
      // leave it alone (pg itself depends on ticks).
      await new Promise<void>((resolve) => process.nextTick(resolve))
    }
    let messages: readonly DurableMessage<unknown>[]
    try {
      messages = typed ? await typedMessages(meta, typed, page.rows) : plainMessages(meta, channel, page.rows)
    } catch (error) {
      // The place stays before this page: the page after it, asked for already, is not the next one.
      ahead = undefined
      throw error
    }
    cursor = next
    return { messages, full, pending: page.pending }
  }
}
