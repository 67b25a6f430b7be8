/**
 * What the long-running commands say on stderr about the listening connection: when it is in place, when it
 * was lost and is being replaced (the listener reconnects by itself, as in the library), and what may have
 * been missed meanwhile.
 */
import type { Observable } from 'rxjs'
import type { ListenerState } from '../index.js'

export function reportListener(state$: Observable<ListenerState>, say: (line: string) => void, what: string): { unsubscribe(): void } {
  let connectedBefore = false
  return state$.subscribe((state) => {
    switch (state.status) {
      case 'connected':
        if (state.gap !== undefined) {
          say(`reconnected (backend ${state.processId}); notifications committed in the ${(state.gap.duration / 1000).toFixed(1)} s since ${new Date(state.gap.since).toISOString()} may be missing`)
        } else if (!connectedBefore) {
          say(`${what} (backend ${state.processId})`)
        }
        connectedBefore = true
        return
      case 'reconnecting':
        say(`connection lost: ${state.lastError.message}; reconnecting (attempt ${state.attempt}${state.delay > 0 ? `, in ${state.delay} ms` : ''})`)
        return
      default:
        return
    }
  })
}
