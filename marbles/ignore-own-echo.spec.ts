import { describe, it } from 'vitest'
import { ignoreOwnEcho, type PgListener, type PgNotification } from '../lib/index.js'
import { VIRTUAL_LISTENER_PROCESS_ID, createVirtualListener, notification, runMarbles } from '../lib/testing/index.js'

/** Its own notifications carry VIRTUAL_LISTENER_PROCESS_ID; everyone else's are other processes'. */
const listener = createVirtualListener()
/** A process other than the listener and the default peer (VIRTUAL_PEER_PROCESS_ID). */
const THIRD_PROCESS_ID = 200
// o: sent by the listener's own sending connection; t: by the default peer; u: by a third process.
const values = {
  o: notification('cache', 'k1', { processId: VIRTUAL_LISTENER_PROCESS_ID }),
  t: notification('cache', 'k2'),
  u: notification('cache', 'k3', { processId: THIRD_PROCESS_ID }),
}

describe('ignoreOwnEcho', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const unsub = '                      -----!'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold<PgNotification>('|').pipe(ignoreOwnEcho(listener))).toBe('|')
    }))

  it("keeps one notification from another process", () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--t--|', values)
      const expected = '   --t--|'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    }))

  it("drops the listener's own notifications and keeps everyone else's", () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--o--t--o--u--|', values)
      const expected = '  -----t-----u--|'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    }))

  it('errors with what isOwnNotification throws, and unsubscribes', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('listener gone')
      const broken: Pick<PgListener, 'isOwnNotification'> = {
        isOwnNotification: (n) => {
          if (n.processId === THIRD_PROCESS_ID) throw thrown
          return false
        },
      }
      const source = hot('--t--u--t--|', values)
      const subs = '      ^----!'
      const expected = '  --t--#'
      expectObservable(source.pipe(ignoreOwnEcho(broken))).toBe(expected, values, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--t--o--#', values)
      const expected = '   --t-----#'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    }))

  it('keeps going on a source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--t--o--u--', values)
      const unsub = '     ----------!'
      const expected = '  --t-----u--'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe(expected, values)
    }))

  it('unsubscribes from the source when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--t--u--t--|', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --t--'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))
})
