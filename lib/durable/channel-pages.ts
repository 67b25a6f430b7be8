/**
 * @internal A reader's place in one channel and the page after it: the one step that `log.read()` (pushed) and
 * `log.iterate()` (pulled) both repeat. Each page starts exactly where the last one ended, so there is no gap
 * and no duplicate at the backlog/live boundary: both are the same query.
 */
import type { TypedChannel } from '../index.js'
import type { LogContext } from './log-context.js'
import { checkPage, cursorAfter, plainMessages, readPage, startOf, typedMessages } from './page.js'
import type { Position } from './position.js'
import type { DurableMessage, StartPosition } from './types.js'

export interface ChannelPage {
  readonly messages: readonly DurableMessage<unknown>[]
  /** The page was full: more may be readable right away. */
  readonly full: boolean
}

/** The next page each call, from `from` on; a failed call leaves the place unchanged, so the next one retries it. */
export function channelPages<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  from: StartPosition,
  limit: number,
  operation: string,
): () => Promise<ChannelPage> {
  let cursor: Position | undefined
  // Expiry that happened before an 'earliest' read began is accepted: it starts after it.
  let floor: Position | undefined
  let floorPending = false
  return async () => {
    const meta = await context.meta()
    if (cursor === undefined) {
      const start = await startOf(context, meta, channel, from, operation)
      cursor = start.position
      floorPending = start.fromEarliest
    }
    const page = await readPage(context, operation, channel, cursor, limit)
    if (floorPending) {
      floor = page.expiredThrough
      floorPending = false
    }
    checkPage(page, cursor, meta, channel, floor)
    const messages = typed ? await typedMessages(meta, typed, page.rows) : plainMessages(meta, channel, page.rows)
    const full = page.rows.length >= limit
    cursor = cursorAfter(page, cursor, full)
    return { messages, full }
  }
}
