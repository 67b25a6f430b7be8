/**
 * What the long-running commands say on stderr about the listening connection: when it is in place, when it
 * was lost and is being replaced (the listener reconnects by itself, as in the library), and what may have
 * been missed meanwhile.
 */
import type { Observable } from 'rxjs'
import type { ListenerState } from '../index.js'

/** Reconnection attempts said one by one, before the report goes quiet; then one line in this many. */
const SAID_ATTEMPTS = 3
const QUIET_EVERY = 30

/**
 * `gaps`: what a reconnection's gap means for what the command prints. `'missed'`: notifications committed
 * meanwhile are lost (LISTEN). `'read-on'`: nothing is lost, the command reads on from where it was (a durable
 * log: the listener only wakes it).
 */
export function reportListener(state$: Observable<ListenerState>, say: (line: string) => void, what: string, gaps: 'missed' | 'read-on' = 'missed'): { unsubscribe(): void } {
  let connectedBefore = false
  let lastCause: string | undefined
  return state$.subscribe((state) => {
    switch (state.status) {
      case 'connected':
        lastCause = undefined
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
      case 'reconnecting': {
        // A long outage is not a line every 1-2 s for ever: the first attempts, a new cause, then every 30th.
        const cause = state.lastError.message
        const said = state.attempt <= SAID_ATTEMPTS || cause !== lastCause || state.attempt % QUIET_EVERY === 0
        lastCause = cause
        if (!said) return
        const quiet = state.attempt === SAID_ATTEMPTS ? `; from here on said every ${QUIET_EVERY} attempts, or when the cause changes` : ''
        // Until a first connection, there was none to lose: the server cannot be reached (yet).
        say(`${connectedBefore ? 'connection lost' : 'cannot connect'}: ${cause}; ${connectedBefore ? 'reconnecting' : 'retrying'} (attempt ${state.attempt}${state.delay > 0 ? `, in ${state.delay} ms` : ''}${quiet})`)
        return
      }
      default:
        return
    }
  })
}
