/**
 * @internal `log.read()`: a cold Observable that reads the backlog page by page, then waits for a trigger (a
 * wake-up, a reconnection, the poll back-stop) and reads what became final since. Each page starts exactly
 * where the last one ended, so there is no gap and no duplicate at the backlog/live boundary: both are the
 * same query.
 */
import { Observable } from 'rxjs'
import type { TypedChannel } from '../index.js'
import { DurableQueryFailedError } from './errors.js'
import type { LogContext } from './log-context.js'
import { checkPage, cursorAfter, plainMessages, readPage, startOf, typedMessages } from './page.js'
import { isTransient } from './pg-failure.js'
import type { Position } from './position.js'
import type { DurableMessage, ReadOptions } from './types.js'

export function readChannel<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  options: ReadOptions,
  activity: { begin(): void; end(): void },
): Observable<DurableMessage<unknown>> {
  return new Observable<DurableMessage<unknown>>((subscriber) => {
    const limit = options.batchSize ?? context.resolved.batchSize
    let cursor: Position | undefined
    // Expiry that happened before an 'earliest' read began is accepted: it starts after it.
    let floor: Position | undefined
    let floorPending = false
    let reading = false
    let again = false
    activity.begin()

    const readAll = async () => {
      const meta = await context.meta()
      if (cursor === undefined) {
        const start = await startOf(context, meta, channel, options.from ?? 'now', 'read')
        cursor = start.position
        floorPending = start.fromEarliest
      }
      while (!subscriber.closed) {
        const page = await readPage(context, 'read', channel, cursor, limit)
        if (floorPending) {
          floor = page.expiredThrough
          floorPending = false
        }
        checkPage(page, cursor, meta, channel, floor)
        const messages = typed ? await typedMessages(meta, typed, page.rows) : plainMessages(meta, channel, page.rows)
        const full = page.rows.length >= limit
        cursor = cursorAfter(page, cursor, full)
        for (const message of messages) {
          if (subscriber.closed) return
          subscriber.next(message)
        }
        if (!full) return
      }
    }

    const read = () => {
      if (subscriber.closed) return
      if (reading) {
        again = true
        return
      }
      reading = true
      again = false
      readAll().then(
        () => {
          reading = false
          if (again) read()
        },
        (error: unknown) => {
          reading = false
          // A broken connection or a restarting server: the next trigger (the reconnection, or the poll) reads again.
          if (error instanceof DurableQueryFailedError && isTransient(error.info)) return
          subscriber.error(error)
        },
      )
    }

    // The listener failed for good (a refused connection): nothing can wake this reader any more.
    const triggers = context.readTriggers(channel, options.wakeUps).subscribe({ next: read, error: (error: unknown) => subscriber.error(error), complete: () => subscriber.complete() })
    read()
    return () => {
      triggers.unsubscribe()
      activity.end()
    }
  })
}
