import { Observable, from, type ObservableInput, type OperatorFunction } from 'rxjs'
import { BoundedBuffer, type BoundedBufferOptions } from './bounded-buffer.js'

export interface ConsumeWithOptions<T> extends BoundedBufferOptions<T> {
  /** How many handler calls may run at once (a positive integer, or `Infinity`). Default 1: one at a time, in order. */
  readonly concurrency?: number | undefined
}

/**
 * Runs an asynchronous handler for each value, at most `concurrency` at a time, with at most `size` values
 * waiting for a free slot; what happens beyond that is the `overflow` policy you choose. It is `concatMap` /
 * `mergeMap(handler, concurrency)` with a bound on the waiting room.
 *
 * Why: RxJS pushes. A synchronous subscriber holds the producer up until it returns, so it can never fall
 * behind; but an asynchronous handler (a database write, an HTTP call, a websocket send awaiting its
 * drain) returns at once, and `concatMap` / `mergeMap` queue every value that arrives meanwhile, without
 * limit. On a busy channel whose producer outpaces the handler that queue (and the process's memory) grows
 * until the process dies. `consumeWith` keeps it at `size` and makes the choice explicit: `'drop-oldest'` to
 * always work on the freshest values, `'drop-newest'` to finish the backlog first, `'error'` (the default)
 * to fail loudly with `BufferOverflowError`. Drops are counted: `onDrop(value, count)` and
 * `metrics.recordDropped()`.
 *
 * Emits what the handler's results emit (nothing, for a `Promise<void>`); completes when the source has
 * completed and every handler has finished; errors at once, ending all handlers, when the source, a handler
 * or the buffer (policy `'error'`) fails.
 *
 * ```ts
 * db.channel('page-views')
 *   .pipe(
 *     decodeValid(PageView),
 *     consumeWith((view) => analytics.insert(view), { concurrency: 4, size: 10_000, overflow: 'drop-oldest', metrics: db.metrics }),
 *   )
 *   .subscribe({ error: (error) => log.error(error) })
 * ```
 *
 * @param handler Called with each value; returns a Promise, an Observable or any `ObservableInput`. A thrown
 *   error errors the stream.
 * @param options `concurrency` (default 1), `size` (default 1000), `overflow` (default `'error'`), `onDrop`, `metrics`.
 * @returns An operator emitting the handlers' results.
 */
export function consumeWith<T, R>(handler: (value: T) => ObservableInput<R>, options: ConsumeWithOptions<T> = {}): OperatorFunction<T, R> {
  const concurrency = options.concurrency ?? 1
  if (!(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency >= 1))) {
    throw new RangeError(`rxpg: consumeWith needs a concurrency that is a positive integer or Infinity; got ${String(options.concurrency)}`)
  }
  // Validates size and policy now rather than at the first subscription.
  void new BoundedBuffer<T>('consumeWith', options)
  return (source) =>
    new Observable<R>((subscriber) => {
      const waiting = new BoundedBuffer<T>('consumeWith', options)
      let active = 0
      let sourceDone = false
      let draining = false

      const finishIfDone = () => {
        if (sourceDone && active === 0 && waiting.length === 0) subscriber.complete()
      }
      const run = (value: T) => {
        active += 1
        let result: ObservableInput<R>
        try {
          result = handler(value)
        } catch (error) {
          subscriber.error(error)
          return
        }
        // Added to the subscriber so that ending the stream ends the handler's work; a finished handler's
        // subscription removes itself, so nothing accumulates.
        subscriber.add(
          from(result).subscribe({
            next: (output) => subscriber.next(output),
            error: (error: unknown) => subscriber.error(error),
            complete: () => {
              active -= 1
              drain()
            },
          }),
        )
      }
      // Starts waiting values while there is a free slot. A handler that finishes synchronously re-enters
      // here; the flag keeps that to one loop, so the order is kept and the stack does not grow.
      const drain = () => {
        if (draining) return
        draining = true
        while (active < concurrency && waiting.length > 0 && !subscriber.closed) run(waiting.shift())
        draining = false
        if (!subscriber.closed) finishIfDone()
      }

      const subscription = source.subscribe({
        next: (value) => {
          if (active < concurrency && waiting.length === 0 && !draining) {
            run(value)
            return
          }
          let overflow
          try {
            overflow = waiting.push(value)
          } catch (error) {
            // onDrop threw.
            subscriber.error(error)
            return
          }
          if (overflow) subscriber.error(overflow)
          else if (active < concurrency) drain()
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true
          finishIfDone()
        },
      })
      return () => {
        subscription.unsubscribe()
        waiting.clear()
      }
    })
}
