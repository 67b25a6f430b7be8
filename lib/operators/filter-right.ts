import { Observable, type OperatorFunction } from 'rxjs'
import type { Either } from './decoder.js'

/**
 * `filter` for the valid side of a decoded stream: keeps the `Right`s that pass, and every `Left`, so
 * failures still reach whoever handles them. With a type guard the `Right` type is narrowed.
 *
 * Use it to pick one case of a decoded union (or to drop values you do not care about) without unwrapping
 * the `Either` and losing the failures.
 *
 * ```ts
 * type Event = { kind: 'created'; id: number } | { kind: 'cancelled'; id: number; reason: string }
 * const isCancelled = (e: Event): e is Extract<Event, { kind: 'cancelled' }> => e.kind === 'cancelled'
 *
 * db.channel('orders').pipe(decode(EventSchema), filterRight(isCancelled))
 * // Observable<Either<DecodeError, { kind: 'cancelled'; id: number; reason: string }>>
 * ```
 *
 * @param predicate Called with each `Right` value; a thrown error errors the stream (as with `filter`).
 * @returns An operator keeping `Left`s and the passing `Right`s.
 */
export function filterRight<A, B extends A, E = unknown>(refinement: (value: A) => value is B): OperatorFunction<Either<E, A>, Either<E, B>>
export function filterRight<A, E = unknown>(predicate: (value: A) => boolean): OperatorFunction<Either<E, A>, Either<E, A>>
export function filterRight<A, E>(predicate: (value: A) => boolean): OperatorFunction<Either<E, A>, Either<E, A>> {
  return (source) =>
    new Observable<Either<E, A>>((subscriber) =>
      source.subscribe({
        next: (result) => {
          let keep: boolean
          try {
            keep = result._tag === 'Left' || predicate(result.right)
          } catch (error) {
            subscriber.error(error)
            return
          }
          if (keep) subscriber.next(result)
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    )
}
