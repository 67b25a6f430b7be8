import { Observable } from 'rxjs'
import type { ListenerGap, ListenerState } from '../../types.js'

/**
 * The gaps of a listener's reconnects from now on: each `connected` state with a gap, except the one `state$`
 * replays on subscription (a gap from before, which this subscriber did not live through).
 */
export function listenerGaps(state$: Observable<ListenerState>): Observable<ListenerGap> {
  return new Observable<ListenerGap>((subscriber) => {
    let replaying = true
    const subscription = state$.subscribe({
      next: (state) => {
        if (!replaying && state.status === 'connected' && state.gap !== undefined) subscriber.next(state.gap)
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    })
    replaying = false
    return subscription
  })
}
