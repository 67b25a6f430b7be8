import { Observable, Subscription, defer, filter, take, type ObservableInput, type OperatorFunction } from 'rxjs'
import { HeldLiveValues } from './held-live-values.js'

/**
 * Emits a snapshot, then the live values, without a race between the two: subscribes to the source first
 * (which LISTENs), holds its values, waits until `listening$` says the LISTEN is in effect, then runs `load`
 * and emits what it yields, then the held values, then live values as they come.
 *
 * Anything committed after `load`'s query starts arrives live; anything committed before it is in the
 * snapshot. A change committed while the query runs can be in both, so the first live values can repeat what
 * the snapshot already holds: apply them idempotently (by key and version) or drop repeats by key.
 *
 * ```ts
 * db.channel('orders').pipe(
 *   decodeValid(OrderChange),
 *   snapshotThenLive(db.listening('orders'), () => loadOrders()),
 * ).subscribe(applyToStore)
 * ```
 *
 * Combine it with `catchUpAfterGaps` to also fill what a reconnect misses. `load`'s error errors the stream.
 *
 * @param listening$ Whether the source's LISTEN is in effect: `db.listening(channel)`.
 * @param load The snapshot: a query, a Promise, an Observable.
 */
export function snapshotThenLive<T, R>(listening$: Observable<boolean>, load: () => ObservableInput<R>): OperatorFunction<T, T | R> {
  return (source) =>
    new Observable<T | R>((subscriber) => {
      const live = new HeldLiveValues<T>(subscriber, true)
      const subscription = new Subscription()
      subscription.add(source.subscribe(live))
      subscription.add(
        listening$
          .pipe(
            filter(Boolean),
            take(1),
          )
          .subscribe({
            next: () =>
              subscription.add(
                defer(load).subscribe({
                  next: (value) => subscriber.next(value),
                  error: (error: unknown) => subscriber.error(error),
                  complete: () => live.release(),
                }),
              ),
            error: (error: unknown) => subscriber.error(error),
          }),
      )
      return subscription
    })
}
