/**
 * snapshotThenLive, drawn: live values are held from the subscription until the LISTEN is in effect
 * (`listening$` true) and the snapshot (`load`) has completed; the snapshot comes first, then what was held,
 * then live values as they come.
 */
import { describe, it } from 'vitest'
import { snapshotThenLive } from '../lib/index.js'
import { runMarbles } from '../lib/testing/index.js'

const listening = { f: false, t: true }

describe('snapshotThenLive', () => {
  it('loads the snapshot once the LISTEN is in effect, and emits it before the live values held meanwhile', () =>
    runMarbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const listening$ = hot('f--t----', listening)
      const live = hot('      -a---b------c-')
      const snapshot = cold('    --(xy|)')
      expectObservable(live.pipe(snapshotThenLive(listening$, () => snapshot))).toBe('-----(xyab)-c-')
      expectSubscriptions(snapshot.subscriptions).toBe('---^-!')
    }))

  it('does not load before the LISTEN is in effect, however long that takes', () =>
    runMarbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const listening$ = hot('f-------', listening)
      const live = hot('      -a-b----')
      const snapshot = cold('x|')
      expectObservable(live.pipe(snapshotThenLive(listening$, () => snapshot)), '^-------!').toBe('--------')
      expectSubscriptions(snapshot.subscriptions).toBe([])
    }))

  it('loads once, even when the LISTEN is lost and in effect again', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const listening$ = hot('t--f-t--', listening)
      const live = hot('      --a---b-')
      let loads = 0
      const load = () => cold('-(x|)', { x: `load ${++loads}` })
      expectObservable(live.pipe(snapshotThenLive(listening$, load)), '^-------!').toBe('-xa---b-', { x: 'load 1', a: 'a', b: 'b' })
    }))

  it('completes after the snapshot and the held values when the source completes first', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const listening$ = hot('t-----', listening)
      const live = hot('      -a|')
      expectObservable(live.pipe(snapshotThenLive(listening$, () => cold('---x|')))).toBe('---x(a|)')
    }))

  it('errors when the snapshot fails, so a missing snapshot is never silent', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const listening$ = hot('t----', listening)
      const live = hot('      -a---')
      expectObservable(live.pipe(snapshotThenLive(listening$, () => cold('--#', undefined, new Error('query failed'))))).toBe(
        '--#',
        undefined,
        new Error('query failed'),
      )
    }))

  it('unsubscribes the source and the snapshot on early unsubscription', () =>
    runMarbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const listening$ = hot('t------', listening)
      const live = hot('      -a-----')
      const snapshot = cold('-----x|')
      expectObservable(live.pipe(snapshotThenLive(listening$, () => snapshot)), '^--!').toBe('---')
      expectSubscriptions(snapshot.subscriptions).toBe('^--!')
      expectSubscriptions(live.subscriptions).toBe('^--!')
    }))
})
