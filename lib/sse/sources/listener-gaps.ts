import { Observable } from 'rxjs'
import type { ListenerState } from '../../types.js'

/**
 * When a listener's subscriber may have missed notifications, from now on: at once when a connection it was
 * connected on is lost (before anything the next connection delivers: notifications flow as soon as its
 * LISTENs are in effect, before the listener reports it `connected`), and at a `connected` state with a gap
 * whose loss it did not see (it subscribed while the listener was reconnecting). Not for the state `state$`
 * replays on subscription: a gap from before, which this subscriber did not live through.
 */
export function listenerGaps(state$: Observable<ListenerState>): Observable<void> {
  return new Observable<void>((subscriber) => {
    let replaying = true
    let connected = false
    /** A loss was told since the last connected state: the gap that ends it is no news. */
    let told = false
    const subscription = state$.subscribe({
      next: (state) => {
        if (state.status === 'connected') {
          if (!replaying && state.gap !== undefined && !told) subscriber.next()
          connected = true
          told = false
          return
        }
        if (state.status === 'reconnecting' && connected && !replaying) {
          told = true
          subscriber.next()
        }
        connected = false
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    })
    replaying = false
    return subscription
  })
}
