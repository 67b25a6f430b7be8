/**
 * @internal `log.iterate()`: the pulled form of `log.read()`. A page is read when the consumer asks for more
 * than it holds, so an asynchronous handler paces the reader and a backlog never piles up in memory. Once caught
 * up, a pull waits for the same triggers as `read()` (a wake-up, a reconnection, the poll back-stop).
 *
 * What ends it does so at once, also while a pull waits for a trigger or for a page read in progress: the signal
 * aborting (the pull rejects with its reason), the log closing, `return()` (the pull gives `done`). A page read
 * cut short that way goes on in the background and is dropped.
 */
import { Subject } from 'rxjs'
import type { TypedChannel } from '../index.js'
import { channelPages } from './channel-pages.js'
import { DurableQueryFailedError } from './errors.js'
import type { LogContext } from './log-context.js'
import { isTransient } from './pg-failure.js'
import { heldBackRereads } from './reread-while-held.js'
import type { DurableMessage, IterateOptions } from './types.js'

type Ending = { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'done' }

export function iterateChannel<T>(
  context: LogContext,
  channel: string,
  typed: TypedChannel<T> | undefined,
  options: IterateOptions,
  activity: { begin(): void; end(): void },
): AsyncIterableIterator<DurableMessage<unknown>> {
  const { signal } = options
  let ending: Ending | undefined
  /** The waits in progress, each woken when something ends the iteration. */
  const waits = new Set<() => void>()
  const end = (how: Ending) => {
    ending ??= how
    for (const wake of waits) wake()
  }
  /**
   * `work`'s value, or undefined as soon as something ends the iteration. Each wait races a promise of its own,
   * dropped with it: a race against one promise that lives as long as the iteration left a reaction on it per
   * wait, holding what the race resolved with (every page read), so the iteration's memory grew for ever.
   */
  const untilEnded = async <R>(work: Promise<R>): Promise<R | undefined> => {
    if (ending !== undefined) return undefined
    let wake!: () => void
    const ended = new Promise<undefined>((resolve) => (wake = () => resolve(undefined)))
    waits.add(wake)
    try {
      return await Promise.race([work, ended])
    } finally {
      waits.delete(wake)
    }
  }
  const onAbort = () => end({ kind: 'error', error: signal?.reason })

  async function* pull(): AsyncGenerator<DurableMessage<unknown>, void, undefined> {
    signal?.throwIfAborted()
    const nextPage = channelPages(context, channel, typed, options.from === undefined ? 'now' : options.from, options.batchSize ?? context.resolved.batchSize, 'read')
    // Read at once; afterwards whenever a trigger came since the last read began, or the last page was full.
    let due = true
    let waiting: (() => void) | undefined
    const triggers = context.readTriggers(channel, options.wakeUps).subscribe({
      next: () => {
        due = true
        waiting?.()
      },
      // The listener failed for good (nothing can wake this reader any more), or the log closed.
      error: (error: unknown) => end({ kind: 'error', error }),
      complete: () => end({ kind: 'done' }),
    })
    // A page that ended with messages committed past the horizon: read again soon (reread-while-held.ts).
    const held = new Subject<boolean>()
    const rereads = held.pipe(heldBackRereads(context)).subscribe(() => {
      due = true
      waiting?.()
    })
    signal?.addEventListener('abort', onAbort)
    activity.begin()
    try {
      for (;;) {
        if (ending !== undefined) {
          if (ending.kind === 'error') throw ending.error
          return
        }
        if (!due) {
          await untilEnded(new Promise<void>((resolve) => (waiting = resolve)))
          waiting = undefined
          continue
        }
        due = false
        const reading = nextPage()
        // A read cut short by an ending goes on in the background: its outcome is dropped, never unhandled.
        reading.catch(() => undefined)
        let page
        try {
          page = await untilEnded(reading)
        } catch (error) {
          // A broken connection or a restarting server: the next trigger (the reconnection, or the poll) reads again.
          if (error instanceof DurableQueryFailedError && isTransient(error.info)) continue
          throw error
        }
        if (page === undefined) continue
        for (const message of page.messages) {
          // An abort dispatches its event at once, so `ending` already says so.
          if (ending !== undefined) break
          yield message
        }
        if (page.full) due = true
        else held.next(page.pending)
      }
    } finally {
      triggers.unsubscribe()
      rereads.unsubscribe()
      signal?.removeEventListener('abort', onAbort)
      activity.end()
    }
  }

  const generator = pull()
  return {
    next: () => generator.next(),
    // Ends a pull waiting meanwhile too (with `done`), rather than queueing behind it as a generator's return() does.
    return: (value?: unknown) => {
      end({ kind: 'done' })
      return generator.return(value as undefined) as Promise<IteratorResult<DurableMessage<unknown>>>
    },
    throw: (error?: unknown) => generator.throw(error) as Promise<IteratorResult<DurableMessage<unknown>>>,
    [Symbol.asyncIterator]() {
      return this
    },
  }
}
