/**
 * @internal `log.read()`: a cold Observable that reads the backlog page by page, then waits for a trigger (a
 * wake-up, a reconnection, the poll back-stop) and reads what became final since (channel-pages.ts).
 */
import { Observable, Subject } from 'rxjs'
import type { TypedChannel } from '../index.js'
import { channelPages } from './channel-pages.js'
import { DurableQueryFailedError } from './errors.js'
import type { LogContext } from './log-context.js'
import { isTransient } from './pg-failure.js'
import { heldBackRereads } from './reread-while-held.js'
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

    /** Whether each read ended with messages committed past the horizon: then it reads again soon. */
    const held = new Subject<boolean>()
    /** Reads to the end of what is readable; true when messages committed past the horizon wait behind it. */
    const readAll = async (): Promise<boolean> => {
      while (!subscriber.closed) {
        const { messages, full, pending } = await nextPage()
        for (const message of messages) {
          if (subscriber.closed) return false
          subscriber.next(message)
        }
        if (!full) return pending
      }
      return false
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
        (pending) => {
          reading = false
          held.next(pending)
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
    const rereads = held.pipe(heldBackRereads(context)).subscribe(read)
    read()
    return () => {
      triggers.unsubscribe()
      rereads.unsubscribe()
      activity.end()
    }
  })
}
