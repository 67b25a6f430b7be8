import { Observable, Subscription, defer, type ObservableInput, type OperatorFunction } from 'rxjs'
import type { ListenerGap, ListenerState } from '../types.js'

/**
 * Fills the gaps a reconnect leaves: after every reconnect that followed a connected period, runs your
 * catch-up step (for example a query for the rows changed since `gap.since`) and emits what it yields BEFORE
 * the live notifications that arrived meanwhile, which are held, not lost, until the step completes.
 *
 * The listener only reports `connected` (with `gap`) once every channel is LISTENed again, so nothing sent
 * after the catch-up query starts can fall between the two.
 *
 * ```ts
 * db.channel('orders').pipe(
 *   decodeValid(Order),
 *   catchUpAfterGaps(db.state$, (gap) => ordersChangedSince(new Date(gap.since))),
 * ).subscribe(applyToStore)
 * ```
 *
 * @param state$ The listener's `state$`. The state it replays on subscription is not a new gap and is ignored.
 * @param catchUp Returns what was missed during `gap`; its error errors the stream (catch inside it to go on).
 *   A new gap while a step runs replaces that step (held notifications are kept).
 */
export function catchUpAfterGaps<T, R>(
  state$: Observable<ListenerState>,
  catchUp: (gap: ListenerGap) => ObservableInput<R>,
): OperatorFunction<T, T | R> {
  return (source) =>
    new Observable<T | R>((subscriber) => {
      /** Live values held while a catch-up step runs; undefined when none runs. */
      let held: T[] | undefined
      let step: Subscription | undefined
      let sourceDone = false
      let subscribing = true

      const release = () => {
        const values = held ?? []
        held = undefined
        step = undefined
        for (const value of values) subscriber.next(value)
        if (sourceDone) subscriber.complete()
      }

      const subscription = new Subscription()
      subscription.add(
        source.subscribe({
          next: (value) => (held ? held.push(value) : subscriber.next(value)),
          error: (error: unknown) => subscriber.error(error),
          complete: () => {
            sourceDone = true
            if (!held) subscriber.complete()
          },
        }),
      )
      subscription.add(
        state$.subscribe({
          next: (state) => {
            if (subscribing || state.status !== 'connected' || state.gap === undefined) return
            step?.unsubscribe()
            held ??= []
            const gap = state.gap
            step = defer(() => catchUp(gap)).subscribe({
              next: (value) => subscriber.next(value),
              error: (error: unknown) => subscriber.error(error),
              complete: release,
            })
          },
          error: (error: unknown) => subscriber.error(error),
        }),
      )
      subscribing = false
      subscription.add(() => step?.unsubscribe())
      return subscription
    })
}
