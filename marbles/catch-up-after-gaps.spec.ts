/**
 * catchUpAfterGaps, drawn: `k` is a reconnect with a gap on state$; the catch-up step's values (x, y) come
 * first, the live values that arrived meanwhile are held and follow, in order.
 */
import { describe, it } from 'vitest'
import type { ListenerState } from '../lib/index.js'
import { catchUpAfterGaps } from '../lib/operators/catch-up-after-gaps.js'
import { runMarbles } from '../lib/testing/index.js'

const connected: ListenerState = { status: 'connected', processId: 1 }
const reconnected: ListenerState = { status: 'connected', processId: 2, gap: { since: 10, duration: 500 } }
const states = { c: connected, k: reconnected, r: { status: 'idle' } as ListenerState }

describe('catchUpAfterGaps', () => {
  it('emits the catch-up before the live values that arrived while it ran', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot(' c--k------', states)
      const live = hot('  -a---b-c---')
      const missed = cold('   --x-y|')
      const expected = '  -a---x-y(bc)'
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => missed))).toBe(expected)
    }))

  it('passes live values straight through while there is no gap', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const state$ = hot(' c-r-c--', states)
      const live = hot('  -a-b-c-')
      expectObservable(live.pipe(catchUpAfterGaps(state$, () => cold('x|')))).toBe('-a-b-c-')
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
