import { NEVER, defer, type Observable } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { InvalidChannelNameError, sendStop, takeUntilStop, type PgListener, type PgNotification } from '../lib/index.js'

const note = (channel: string, payload: string): PgNotification => ({ channel, payload, processId: 1, receivedAt: 0 })
const values = { a: note('jobs', '1'), b: note('jobs', '2') }
const stops = { s: note('stop', ''), w: note('stop', 'w-1'), o: note('stop', 'w-2') }

/** A listener whose channels are the given diagrams (only `channel` is needed by takeUntilStop). */
const listenerOf = (channels: Record<string, Observable<PgNotification>>): Pick<PgListener, 'channel'> => ({
  channel: (name) => {
    const channel = channels[name]
    if (channel === undefined) throw new Error(`no diagram for channel ${name}`)
    return channel
  },
})

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

describe('takeUntilStop', () => {
  it('emits nothing while neither the source nor the stop channel emits', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const stop = hot<PgNotification>('    -')
      const unsub = '                      ------!'
      const subs = '                        ^-----!'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop')), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    })
  })

  it('completes, and leaves the stop channel, when the source completes without values', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('|')
      const stop = hot<PgNotification>('    -')
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop'))).toBe('|')
      expectSubscriptions(stop.subscriptions).toBe('(^!)')
    })
  })

  it('passes one value through', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--|', values)
      const stop = hot('  -----', stops)
      const expected = '  --a--|'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop'))).toBe(expected, values)
    })
  })

  it('completes at the first notification on the stop channel, leaving both channels', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--b--a--', values)
      const stop = hot('  ---------s-------', stops)
      const subs = '      ^--------!'
      const expected = '  --a--b--a|'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop'))).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    })
  })

  it('listens to the stop channel before the source, so no stop is missed', () => {
    const order: string[] = []
    const listener: Pick<PgListener, 'channel'> = {
      channel: (name) => defer(() => (order.push(`subscribe ${name}`), NEVER)),
    }
    const source = defer(() => (order.push('subscribe source'), NEVER))
    source.pipe(takeUntilStop(listener, 'stop')).subscribe().unsubscribe()
    expect(order).toEqual(['subscribe stop', 'subscribe source'])
  })

  it('ignores stop notifications whose payload does not match', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--a--b--', values)
      const stop = hot('  ---o--s--w----', stops)
      const expected = '  --a--b--a|'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop', { payload: 'w-1' }))).toBe(expected, values)
    })
  })

  it('asks a payload predicate which stops count', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--b--a--b--', values)
      const stop = hot('  ---s--o-------', stops)
      const expected = '  --a--b|'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop', { payload: (p) => p.startsWith('w-') }))).toBe(expected, values)
    })
  })

  it('errors with what the payload predicate throws, leaving both channels', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const thrown = new Error('bad predicate')
      const source = hot('--a--b--a--', values)
      const stop = hot('  ----s------', stops)
      const subs = '      ^---!'
      const expected = '  --a-#'
      const predicate = () => {
        throw thrown
      }
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop', { payload: predicate }))).toBe(expected, values, thrown)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    })
  })

  it('passes a source error through', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--#', values)
      const stop = hot('  ------', stops)
      const expected = '  --a--#'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop'))).toBe(expected, values)
    })
  })

  it('errors when the stop channel errors (the listener failed for good)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const refused = new Error('connection rejected')
      const source = hot('--a--b--', values)
      const stop = hot('  ---#', stops, refused)
      const expected = '  --a#'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop'))).toBe(expected, values, refused)
    })
  })

  it('keeps going on a source that never ends until a stop arrives', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-a-b-a-b-a-b-', values)
      const stop = hot('  -----------------', stops)
      const unsub = '     ----------------!'
      const expected = '  -a-b-a-b-a-b-a-b-'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop')), unsub).toBe(expected, values)
    })
  })

  it('leaves both channels when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--', values)
      const stop = hot('  ---------s-', stops)
      const subs = '      ^----!'
      const unsub = '     -----!'
      const expected = '  --a---'
      expectObservable(source.pipe(takeUntilStop(listenerOf({ stop }), 'stop')), unsub).toBe(expected, values)
      expectSubscriptions(source.subscriptions).toBe(subs)
      expectSubscriptions(stop.subscriptions).toBe(subs)
    })
  })

  it('refuses an invalid stop channel name at once', () => {
    expect(() => takeUntilStop(listenerOf({}), '')).toThrow(InvalidChannelNameError)
    expect(() => takeUntilStop(listenerOf({}), 'x'.repeat(64))).toThrow(InvalidChannelNameError)
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
