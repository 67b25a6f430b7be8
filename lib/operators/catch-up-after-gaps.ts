import { Observable, Subscription, defer, type ObservableInput, type OperatorFunction } from 'rxjs'
import type { ListenerGap, ListenerState } from '../types.js'
import { HeldLiveValues } from './held-live-values.js'

/**
 * Fills the gaps a reconnect leaves: after every reconnect that followed a connected period, runs your
 * catch-up step (for example a query for the rows after the last id you saw) and emits what it yields BEFORE
 * the live values, which are held, not lost, from the moment the connection is lost until the step completes.
 *
 * Holding starts when `state$` leaves `connected` (a new connection can deliver before it is reported
 * `connected`), and the step starts when `connected { gap }` arrives, that is once every channel is LISTENed
 * again: anything committed after the step's query starts is in the live values, anything before it is in the
 * step's result. The two can overlap (a row committed while the step's query runs can be in both), so the
 * stream can repeat a value at the boundary: drop repeats by key if that matters (see docs/operators.md).
 *
 * ```ts
 * db.channel('orders').pipe(
 *   decodeValid(Order),
 *   catchUpAfterGaps(db.state$, () => ordersAfter(lastSeenId)),
 * ).subscribe(applyToStore)
 * ```
 *
 * - The state `state$` replays on subscription never starts a step (it is no gap this subscription lived
 *   through), but a state other than `connected` starts holding.
 * - A `connected` state without a gap ends the holding (the first connection).
 * - A new gap while a step runs replaces the step with one for both gaps: `since` of the first, up to now.
 * - The step's error errors the stream (catch inside it to go on), and so does the source's, at once (held
 *   values are dropped, as RxJS operators drop what they buffer). When the source completes, held values are
 *   emitted first (after a running step completes, if it does).
 *
 * @param state$ The listener's `state$`.
 * @param catchUp Returns what was missed during `gap`.
 */
export function catchUpAfterGaps<T, R>(
  state$: Observable<ListenerState>,
  catchUp: (gap: ListenerGap) => ObservableInput<R>,
): OperatorFunction<T, T | R> {
  return (source) =>
    new Observable<T | R>((subscriber) => {
      const live = new HeldLiveValues<T>(subscriber, false)
      /** The running step and the gap it covers. */
      let step: { readonly subscription: Subscription; readonly gap: ListenerGap } | undefined
      let subscribing = true

      const release = () => {
        step = undefined
        live.release()
      }

      const startStep = (gap: ListenerGap) => {
        const previous = step
        previous?.subscription.unsubscribe()
        // A step cut short by a new gap did not finish its catch-up: the new one starts where it started.
        const covered: ListenerGap = previous === undefined ? gap : { since: previous.gap.since, duration: gap.since + gap.duration - previous.gap.since }
        live.hold()
        const subscription = new Subscription()
        step = { subscription, gap: covered }
        subscription.add(
          defer(() => catchUp(covered)).subscribe({
            next: (value) => subscriber.next(value),
            error: (error: unknown) => subscriber.error(error),
            complete: () => {
              if (step?.subscription === subscription) release()
            },
          }),
        )
      }

      const subscription = new Subscription()
      subscription.add(
        state$.subscribe({
          next: (state) => {
            if (state.status !== 'connected') live.hold()
            else if (state.gap !== undefined && !subscribing) startStep(state.gap)
            else if (step === undefined) release()
          },
          error: (error: unknown) => subscriber.error(error),
        }),
      )
      subscribing = false
      subscription.add(
        source.subscribe({
          next: live.next,
          error: live.error,
          // Ended while holding without a step to wait for (the listener closed while reconnecting): out now.
          complete: () => {
            live.complete()
            if (step === undefined) release()
          },
        }),
      )
      subscription.add(() => step?.subscription.unsubscribe())
      return subscription
    })
}
