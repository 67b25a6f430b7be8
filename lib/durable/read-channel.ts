/**
 * @internal `log.read()`: a cold Observable that reads the backlog page by page, then waits for a trigger (a
 * wake-up, a reconnection, the poll back-stop) and reads what became final since (channel-pages.ts).
 */
import { Observable } from 'rxjs'
import type { TypedChannel } from '../index.js'
import { channelPages } from './channel-pages.js'
import { DurableQueryFailedError } from './errors.js'
import type { LogContext } from './log-context.js'
import { isTransient } from './pg-failure.js'
import type { DurableMessage, ReadOptions } from './types.js'

export function readChannel<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  options: ReadOptions,
  activity: { begin(): void; end(): void },
): Observable<DurableMessage<unknown>> {
  return new Observable<DurableMessage<unknown>>((subscriber) => {
    const nextPage = channelPages(context, channel, typed, options.from === undefined ? 'now' : options.from, options.batchSize ?? context.resolved.batchSize, 'read', true)
    let reading = false
    let again = false
    activity.begin()

    const readAll = async () => {
      while (!subscriber.closed) {
        const { messages, full } = await nextPage()
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
