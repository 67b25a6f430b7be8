/**
 * @internal `log.iterate()`: the pulled form of `log.read()`. A page is read when the consumer asks for more
 * than it holds, so an asynchronous handler paces the reader and a backlog never piles up in memory. Once caught
 * up, a pull waits for the same triggers as `read()` (a wake-up, a reconnection, the poll back-stop).
 */
import type { TypedChannel } from '../index.js'
import { channelPages } from './channel-pages.js'
import { DurableQueryFailedError } from './errors.js'
import type { LogContext } from './log-context.js'
import { isTransient } from './pg-failure.js'
import type { DurableMessage, IterateOptions } from './types.js'

export async function* iterateChannel<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  options: IterateOptions,
  activity: { begin(): void; end(): void },
): AsyncGenerator<DurableMessage<unknown>, void, undefined> {
  const { signal } = options
  signal?.throwIfAborted()
  const nextPage = channelPages(context, channel, typed, options.from ?? 'now', options.batchSize ?? context.resolved.batchSize, 'read')
  // Read at once; afterwards whenever a trigger came since the last read began, or the last page was full.
  let due = true
  let ended: { readonly error?: unknown } | undefined
  let waiting: (() => void) | undefined
  const rouse = () => waiting?.()
  const triggers = context.readTriggers(channel, options.wakeUps).subscribe({
    next: () => {
      due = true
      rouse()
    },
    // The listener failed for good (nothing can wake this reader any more), or the log closed.
    error: (error: unknown) => {
      ended = { error }
      rouse()
    },
    complete: () => {
      ended ??= {}
      rouse()
    },
  })
  signal?.addEventListener('abort', rouse)
  activity.begin()
  try {
    for (;;) {
      signal?.throwIfAborted()
      if (ended !== undefined) {
        if ('error' in ended) throw ended.error
        return
      }
      if (!due) {
        await new Promise<void>((resolve) => (waiting = resolve))
        waiting = undefined
        continue
      }
      due = false
      let page
      try {
        page = await nextPage()
      } catch (error) {
        // A broken connection or a restarting server: the next trigger (the reconnection, or the poll) reads again.
        if (error instanceof DurableQueryFailedError && isTransient(error.info)) continue
        throw error
      }
      for (const message of page.messages) {
        signal?.throwIfAborted()
        yield message
      }
      if (page.full) due = true
    }
  } finally {
    triggers.unsubscribe()
    signal?.removeEventListener('abort', rouse)
    activity.end()
  }
}
