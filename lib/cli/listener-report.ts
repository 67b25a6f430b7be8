/**
 * What the long-running commands say on stderr about the listening connection: when it is in place, when it
 * was lost and is being replaced (the listener reconnects by itself, as in the library), and what may have
 * been missed meanwhile.
 */
import type { Observable } from 'rxjs'
import type { ListenerState } from '../index.js'

/**
 * `gaps`: what a reconnection's gap means for what the command prints. `'missed'`: notifications committed
 * meanwhile are lost (LISTEN). `'read-on'`: nothing is lost, the command reads on from where it was (a durable
 * log: the listener only wakes it).
 */
export function reportListener(state$: Observable<ListenerState>, say: (line: string) => void, what: string, gaps: 'missed' | 'read-on' = 'missed'): { unsubscribe(): void } {
  let connectedBefore = false
  return state$.subscribe((state) => {
    switch (state.status) {
      case 'connected':
        if (state.gap !== undefined) {
          say(
            gaps === 'missed'
              ? `reconnected (backend ${state.processId}); notifications committed in the ${(state.gap.duration / 1000).toFixed(1)} s since ${new Date(state.gap.since).toISOString()} may be missing`
              : `reconnected (backend ${state.processId}); reading on from where it was: nothing committed meanwhile is missed`,
          )
        } else if (!connectedBefore) {
          say(`${what} (backend ${state.processId})`)
        }
        connectedBefore = true
        return
      case 'reconnecting':
        // Until a first connection, there was none to lose: the server cannot be reached (yet).
        say(`${connectedBefore ? 'connection lost' : 'cannot connect'}: ${state.lastError.message}; ${connectedBefore ? 'reconnecting' : 'retrying'} (attempt ${state.attempt}${state.delay > 0 ? `, in ${state.delay} ms` : ''})`)
        return
      default:
        return
    }
  })
}
