import type { Observable } from 'rxjs'
import type { BoundedBufferOptions } from '../operators/bounded-buffer.js'
import { PullBuffer } from './pull-buffer.js'

/** Options of `toAsyncIterable` and `createPuller`: the buffer's bound and overflow policy. */
export type PullOptions<T> = BoundedBufferOptions<T>

/** What `toAsyncIterable` returns: an async iterator you can `for await` over, and dispose. */
export interface PullIterator<T> extends AsyncIterableIterator<T, undefined, undefined>, AsyncDisposable {
  /** Ends the iteration: unsubscribes (UNLISTEN when it was the channel's last subscriber) and drops what waits. */
  return(): Promise<IteratorResult<T, undefined>>
  /** Values waiting to be taken. */
  readonly buffered: number
  /** Values a drop policy discarded so far. */
  readonly dropped: number
}

interface Waiter<T> {
  resolve(result: IteratorResult<T, undefined>): void
  reject(error: unknown): void
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined })

/**
 * Reads an Observable (typically a channel) with `for await`, through a bounded buffer.
 *
 * Use it where pulling reads better than subscribing: a worker loop that awaits each job, a script, a
 * generator pipeline. It subscribes at once (not at the first `next()`), so notifications sent after the
 * call are not missed while the loop gets going. Values wait in a buffer of `size` (default 1000) while the
 * loop body runs; when it is full the `overflow` policy applies (default `'error'`: the loop throws a
 * `BufferOverflowError` after the values that did fit). A source error is thrown after the values before it.
 * Leaving the loop (`break`, `return`, a throw) unsubscribes, so the channel is UNLISTENed when nobody else
 * listens; `await using` does the same.
 *
 * ```ts
 * for await (const n of toAsyncIterable(db.channel('jobs'), { size: 100, overflow: 'drop-oldest' })) {
 *   await runJob(n.payload)
 *   if (n.payload === 'last') break // unsubscribes
 * }
 * ```
 *
 * @param source The Observable to read; it is subscribed once, now.
 * @param options `size`, `overflow`, `onDrop`, `metrics`.
 * @returns An async iterator, also its own async iterable.
 */
export function toAsyncIterable<T>(source: Observable<T>, options: PullOptions<T> = {}): PullIterator<T> {
  let waiters: Waiter<T>[] = []
  const pull: PullBuffer<T> = new PullBuffer<T>('toAsyncIterable', options, {
    takeDirectly: (value) => {
      const waiter = waiters.shift()
      if (waiter === undefined) return false
      waiter.resolve({ done: false, value })
      return true
    },
    ended: () => {
      const woken = waiters
      waiters = []
      for (const waiter of woken) settle(waiter)
    },
  })

  // Gives a waiter the end: the error once (then "done" for everyone after), or "done".
  const settle = (waiter: Waiter<T>) => {
    const end = pull.endReached
    if (end?.kind === 'error') {
      pull.errorSeen()
      waiter.reject(end.error)
    } else waiter.resolve(DONE)
  }

  const iterator: PullIterator<T> = {
    next() {
      if (pull.length > 0) return Promise.resolve({ done: false, value: pull.shift() })
      return new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
        const waiter = { resolve, reject }
        if (pull.endReached !== undefined) settle(waiter)
        else waiters.push(waiter)
      })
    },
    return() {
      pull.close()
      const woken = waiters
      waiters = []
      for (const waiter of woken) waiter.resolve(DONE)
      return Promise.resolve(DONE)
    },
    async [Symbol.asyncDispose]() {
      await iterator.return()
    },
    [Symbol.asyncIterator]() {
      return iterator
    },
    get buffered() {
      return pull.length
    },
    get dropped() {
      return pull.dropped
    },
  }
  pull.start(source)
  return iterator
}
