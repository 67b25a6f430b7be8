import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it } from 'vitest'
import { ignoreOwnEcho, type PgListener, type PgNotification } from '../lib/index.js'

const OWN_PID = 4242
const note = (payload: string, processId: number): PgNotification => ({ channel: 'cache', payload, processId, receivedAt: 0 })
// o: sent by this process's own sending connection; t, u: by other processes.
const values = { o: note('k1', OWN_PID), t: note('k2', 100), u: note('k3', 200) }
const listener: Pick<PgListener, 'isOwnNotification'> = { isOwnNotification: (n) => n.processId === OWN_PID }

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

describe('ignoreOwnEcho', () => {
  it('emits nothing for a source that never emits', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const unsub = '                      -----!'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^----!')
    })
  })

  it('completes when the source completes without values', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold<PgNotification>('|').pipe(ignoreOwnEcho(listener))).toBe('|')
    })
  })

  it("keeps one notification from another process", () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--t--|', values)
      const expected = '   --t--|'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    })
  })

  it("drops the listener's own notifications and keeps everyone else's", () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--o--t--o--u--|', values)
      const expected = '  -----t-----u--|'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    })
  })

  it('errors with what isOwnNotification throws, and unsubscribes', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('listener gone')
      const broken: Pick<PgListener, 'isOwnNotification'> = {
        isOwnNotification: (n) => {
          if (n.processId === 200) throw thrown
          return false
        },
      }
      const source = hot('--t--u--t--|', values)
      const subs = '      ^----!'
      const expected = '  --t--#'
      expectObservable(source.pipe(ignoreOwnEcho(broken))).toBe(expected, values, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
  })

  it('passes a source error through', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--t--o--#', values)
      const expected = '   --t-----#'
      expectObservable(source.pipe(ignoreOwnEcho(listener))).toBe(expected, values)
    })
  })

  it('keeps going on a source that never ends', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--t--o--u--', values)
      const unsub = '     ----------!'
      const expected = '  --t-----u--'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe(expected, values)
    })
  })

  it('unsubscribes from the source when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--t--u--t--|', values)
      const subs = '      ^---!'
      const unsub = '     ----!'
      const expected = '  --t--'
      expectObservable(source.pipe(ignoreOwnEcho(listener)), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
  })
})
