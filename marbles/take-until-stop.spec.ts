import { NEVER, defer } from 'rxjs'
import { describe, expect, it, vi } from 'vitest'
import { InvalidChannelNameError, sendStop, takeUntilStop, type PgListener, type PgNotification } from '../lib/index.js'
import { notification, runMarbles } from '../lib/testing/index.js'

const values = { a: notification('jobs', '1'), b: notification('jobs', '2') }
const stops = { s: notification('stop', ''), w: notification('stop', 'w-1'), o: notification('stop', 'w-2') }

describe('takeUntilStop', () => {
  it('emits nothing while neither the source nor the stop channel emits', () =>
    runMarbles(({ cold, hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const source = cold<PgNotification>('-')
      const stop = hot<PgNotification>('    -')
      const unsub = '                      ------!'
      const subs = '                        ^-----!'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop')), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    }))

  it('completes, and leaves the stop channel, when the source completes without values', () =>
    runMarbles(({ cold, hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const source = cold<PgNotification>('|')
      const stop = hot<PgNotification>('    -')
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop'))).toBe('|')
      expectSubscriptions(stop.subscriptions).toBe('(^!)')
    }))

  it('passes one value through', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const source = hot('--a--|', values)
      const stop = hot('  -----', stops)
      const expected = '  --a--|'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop'))).toBe(expected, values)
    }))

  it('completes at the first notification on the stop channel, leaving both channels', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const source = hot('--a--b--a--b--a--', values)
      const stop = hot('  ---------s-------', stops)
      const subs = '      ^--------!'
      const expected = '  --a--b--a|'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop'))).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    }))

  it('listens to the stop channel before the source, so no stop is missed', () => {
    const order: string[] = []
    const listener: Pick<PgListener, 'channel'> = {
      channel: (name) => defer(() => (order.push(`subscribe ${name}`), NEVER)),
    }
    const source = defer(() => (order.push('subscribe source'), NEVER))
    source.pipe(takeUntilStop(listener, 'stop')).subscribe().unsubscribe()
    expect(order).toEqual(['subscribe stop', 'subscribe source'])
  })

  it('ignores stop notifications whose payload does not match', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const source = hot('--a--b--a--b--', values)
      const stop = hot('  ---o--s--w----', stops)
      const expected = '  --a--b--a|'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop', { payload: 'w-1' }))).toBe(expected, values)
    }))

  it('asks a payload predicate which stops count', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const source = hot('--a--b--a--b--', values)
      const stop = hot('  ---s--o-------', stops)
      const expected = '  --a--b|'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop', { payload: (p) => p.startsWith('w-') }))).toBe(expected, values)
    }))

  it('errors with what the payload predicate throws, leaving both channels', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const thrown = new Error('bad predicate')
      const source = hot('--a--b--a--', values)
      const stop = hot('  ----s------', stops)
      const subs = '      ^---!'
      const expected = '  --a-#'
      const predicate = () => {
        throw thrown
      }
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop', { payload: predicate }))).toBe(expected, values, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    }))

  it('passes a source error through', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const source = hot('--a--#', values)
      const stop = hot('  ------', stops)
      const expected = '  --a--#'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop'))).toBe(expected, values)
    }))

  it('errors when the stop channel errors (the listener failed for good)', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const refused = new Error('connection rejected')
      const source = hot('--a--b--', values)
      const stop = hot('  ---#', stops, refused)
      const expected = '  --a#'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop'))).toBe(expected, values, refused)
    }))

  it('keeps going on a source that never ends until a stop arrives', () =>
    runMarbles(({ hot, expectObservable, virtualListener }) => {
      const source = hot('-a-b-a-b-a-b-a-b-', values)
      const stop = hot('  -----------------', stops)
      const unsub = '     ----------------!'
      const expected = '  -a-b-a-b-a-b-a-b-'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop')), unsub).toBe(expected, values)
    }))

  it('leaves both channels when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions, virtualListener }) => {
      const source = hot('--a--b--a--', values)
      const stop = hot('  ---------s-', stops)
      const subs = '      ^----!'
      const unsub = '     -----!'
      const expected = '  --a---'
      const db = virtualListener({ channels: { stop } })
      expectObservable(source.pipe(takeUntilStop(db, 'stop')), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    }))

  it('refuses an invalid stop channel name at once', () => {
    // A listener that takes any name, so the refusal can only come from takeUntilStop.
    const lax: Pick<PgListener, 'channel'> = { channel: () => NEVER }
    expect(() => takeUntilStop(lax, '')).toThrow(InvalidChannelNameError)
    expect(() => takeUntilStop(lax, 'x'.repeat(64))).toThrow(InvalidChannelNameError)
  })
})

describe('sendStop', () => {
  it('sends the stop notification with its payload through notify', async () => {
    const notify = vi.fn<PgListener['notify']>(() => Promise.resolve())
    await sendStop({ notify }, 'workers-stop', 'w-17')
    await sendStop({ notify }, 'workers-stop')
    expect(notify.mock.calls).toEqual([
      ['workers-stop', 'w-17'],
      ['workers-stop', ''],
    ])
  })
})
