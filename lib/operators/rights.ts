import { Observable, type OperatorFunction } from 'rxjs'
import type { Either } from './decoder.js'

/**
 * Keeps the valid values of a decoded stream, unwrapped: `Either<E, A>` in, `A` out; `Left`s are dropped.
 *
 * Use it on a stream that is shared between a branch that handles failures and one that only wants values
 * (with a single consumer, `decodeValid` does both steps at once).
 *
 * ```ts
 * const decoded$ = db.channel('orders').pipe(decode(Order), share())
 * decoded$.pipe(filter(isLeft)).subscribe((bad) => deadLetter(bad.left.info))
 * decoded$.pipe(rights()).subscribe((order) => ship(order))
 * ```
 *
 * @returns An operator from `Either<E, A>` to `A`.
 */
export function rights<A, E = unknown>(): OperatorFunction<Either<E, A>, A> {
  return (source) =>
    new Observable<A>((subscriber) =>
      source.subscribe({
        next: (result) => {
          if (result._tag === 'Right') subscriber.next(result.right)
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    )
}
