/**
 * catchUpAfterGaps, drawn: `r` is the connection lost (reconnecting), `k` a reconnect with a gap on state$;
 * live values are held from the loss, the catch-up step's values (x, y) come first, then the held values
 * follow, in order.
 */
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import { ConnectionLostError, type ListenerState } from '../lib/index.js'
import { catchUpAfterGaps } from '../lib/operators/catch-up-after-gaps.js'
import { runMarbles } from '../lib/testing/index.js'

const lost = new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'read ECONNRESET' })
const connected: ListenerState = { status: 'connected', processId: 1 }
const reconnected: ListenerState = { status: 'connected', processId: 2, gap: { since: 10, duration: 500 } }
const states = {
  c: connected,
  k: reconnected,
  r: { status: 'reconnecting', attempt: 1, delay: 0, lastError: lost } as ListenerState,
  n: { status: 'connecting', attempt: 1 } as ListenerState,
}

describe('catchUpAfterGaps', () => {
  it('emits the catch-up before the live values that arrived while it ran', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot(' c--k------', states)
      const live = hot('  -a---b-c---')
      const missed = cold('   --x-y|')
      const expected = '  -a---x-y(bc)'
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => missed))).toBe(expected)
    }))

  it('passes live values straight through while connected', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot(' c-------', states)
      const live = hot('  -a-b-c-')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('x|')))).toBe('-a-b-c-')
    }))

  it('holds live values from the moment the connection is lost, also those a new connection delivers before it is connected', () =>
    runMarbles(({ hot, cold, virtualListener, expectObservable }) => {
      // b arrives while connecting (during the self-probe); the catch-up m must come first.
      const db = virtualListener({ channels: { orders: '----b' }, state: hot('c-rn-k', states) })
      const out$ = db.channel('orders').pipe(
        map((n) => n.payload),
        catchUpAfterGaps(db.state$, () => cold('-(m|)')),
      )
      expectObservable(out$, '^-------!').toBe('------(mb)')
    }))

  it('releases held values, without a step, when the state is connected again without a gap', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot(' c-n-c--', states)
      const live = hot('  -a-b-c-')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('x|')))).toBe('-a--bc-')
    }))

  it('holds from subscription when the state it replays is not connected', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      // cold: state$ replays its current state to each subscriber, in the frame it subscribes.
      const state$ = cold('r---k---', states)
      const live = hot('   -a------')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('-x|')))).toBe('-----xa')
    }))

  it('replaces a step cut short by a new gap with one that covers both gaps', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const second: ListenerState = { status: 'connected', processId: 3, gap: { since: 900, duration: 100 } }
      const state$ = hot(' r-k-r-K-----', { ...states, K: second })
      const live = hot('  ---a----')
      // The first step (since 10) never finishes; the second covers from 10 to 1000.
      const step = (gap: { since: number; duration: number }) => (gap.since + gap.duration === 510 ? cold('-----x|') : cold('-(y|)', { y: `${gap.since}-${gap.since + gap.duration}` }))
      expectObservable(live.pipe(catchUpAfterGaps(state$, step))).toBe('-------(ya)', { y: '10-1000', a: 'a' })
    }))

  it('ignores the gap state$ replays when subscribed', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot('k^--', states)
      const live = hot('  -^a-')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('x|')))).toBe('-a-')
    }))

  it('gives the step the gap', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot('--k-', states)
      const live = hot(' ----')
      expectObservable(live.pipe(catchUpAfterGaps(state$, (gap) => cold('(g|)', { g: gap.since + gap.duration })))).toBe('--g-', { g: 510 })
    }))

  it('errors the stream when the step fails (or throws), so a lost catch-up is never silent', () =>
    runMarbles(({ hot, expectObservable }) => {
      const state$ = hot('--k-', states)
      const live = hot(' -a--')
      const failing = () => {
        throw new Error('query failed')
      }
      expectObservable(live.pipe(catchUpAfterGaps(state$, failing))).toBe('-a#', undefined, new Error('query failed'))
    }))

  it('completes after the held values when the source completes during a step', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot('--k----', states)
      const live = hot(' ---a|')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('---x|')))).toBe('-----x(a|)')
    }))

  it('emits what it held and completes when the source completes while it holds without a step (closed while reconnecting)', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot('c-r-----', states)
      const live = hot(' ---a-|')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('x|')))).toBe('-----(a|)')
    }))

  it('unsubscribes the step and the sources on early unsubscription', () =>
    runMarbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const state$ = hot('--k----', states)
      const live = hot(' -a-----')
      const missed = cold('  ------x|')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => missed)), '^---!').toBe('-a--')
      expectSubscriptions(missed.subscriptions).toBe('--^-!')
      expectSubscriptions(live.subscriptions).toBe('^---!')
    }))
})
