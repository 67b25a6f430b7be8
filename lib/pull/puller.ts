import type { Observable } from 'rxjs'
import { PullBuffer } from './pull-buffer.js'
import type { PullOptions } from './to-async-iterable.js'

/** A non-blocking reader of an Observable: take what has arrived, when it suits you. */
export interface Puller<T> extends Disposable {
  /**
   * The oldest waiting value, or `undefined` when none is waiting right now (values must therefore not be
   * `undefined` themselves; notifications never are). Once the source has failed (or overflowed with policy
   * `'error'`) and the values before the failure are taken, throws that error, once.
   */
  tryNext(): T | undefined
  /** Takes every waiting value (at most `max`), oldest first; `[]` when none waits. Throws as `tryNext` does. */
  drain(max?: number): T[]
  /** Values waiting to be taken. */
  readonly buffered: number
  /** Values a drop policy discarded so far. */
  readonly dropped: number
  /** True once the source has ended (or `close()` was called) and nothing is left to take. */
  readonly done: boolean
  /** Unsubscribes (UNLISTEN when it was the channel's last subscriber) and drops what waits. Idempotent. */
  close(): void
}

/**
 * Subscribes to an Observable and keeps what arrives in a bounded buffer, for code that polls instead of
 * reacting: a game or render loop that applies everything since the last frame, a synchronous API, a
 * batch job that checks for a cancel between steps.
 *
 * It subscribes at once. Values wait in a buffer of `size` (default 1000); when it is full the `overflow`
 * policy applies (default `'error'`: `tryNext` throws a `BufferOverflowError` after the values that fit).
 *
 * ```ts
 * const updates = createPuller(db.channel('positions'), { size: 500, overflow: 'drop-oldest' })
 * setInterval(() => {
 *   for (const n of updates.drain()) world.apply(JSON.parse(n.payload))
 *   render(world)
 * }, 16)
 * // later: updates.close() // UNLISTEN
 * ```
 *
 * @param source The Observable to read; it is subscribed once, now.
 * @param options `size`, `overflow`, `onDrop`, `metrics`.
 */
export function createPuller<T>(source: Observable<T>, options: PullOptions<T> = {}): Puller<T> {
  const pull = new PullBuffer<T>('createPuller', options)
  const failIfEnded = () => {
    const end = pull.endReached
    if (end?.kind === 'error') {
      pull.errorSeen()
      throw end.error
    }
  }
  const puller: Puller<T> = {
    tryNext() {
      if (pull.length > 0) return pull.shift()
      failIfEnded()
      return undefined
    },
    drain(max = Infinity) {
      const taken: T[] = []
      while (pull.length > 0 && taken.length < max) taken.push(pull.shift())
      if (taken.length === 0) failIfEnded()
      return taken
    },
    get buffered() {
      return pull.length
    },
    get dropped() {
      return pull.dropped
    },
    get done() {
      const end = pull.endReached
      return end !== undefined && end.kind !== 'error'
    },
    close() {
      pull.close()
    },
    [Symbol.dispose]() {
      pull.close()
    },
  }
  pull.start(source)
  return puller
}
