import { map } from 'rxjs'
import { describe, expect, it, vi } from 'vitest'
import { ConnectionLostError, ConnectionRejectedError, InvalidChannelNameError, InvalidSinkValueError, ListenerClosedError, PayloadTooLargeError } from '../lib/index.js'
import type { ListenerState, PgNotification } from '../lib/index.js'
import {
  VIRTUAL_LISTENER_PROCESS_ID,
  VIRTUAL_PEER_PROCESS_ID,
  createVirtualListener,
  notification,
  runMarbles,
} from '../lib/testing/index.js'

const payloadOf = map((n: PgNotification) => n.payload)
const refused = new ConnectionRejectedError({ reason: 'authentication-failed', sqlState: '28P01', detail: 'password authentication failed for user "app"' })
const lost = new ConnectionLostError({ systemCode: 'ECONNRESET', detail: 'read ECONNRESET' })

describe('virtual listener: channels', () => {
  it('refuses values when no channel is drawn as a string: they would be ignored, and the letters read as payloads', () =>
    runMarbles(({ hot, virtualListener }) => {
      const orders = hot('-p-')
      expect(() => virtualListener({ channels: { orders }, values: { p: '{"id":1}' } })).toThrow(
        /values apply to channels drawn as strings only, and no channel is: give the values to hot\(\.\.\.\) or cold\(\.\.\.\) instead/,
      )
    }))

  it('delivers the notifications drawn for a channel', () =>
    runMarbles(({ hot, expectObservable }) => {
      const a = notification('orders', '{"id":1}')
      const b = notification('orders', '{"id":2}')
      const orders = hot('  -a--b---', { a, b })
      const db = createVirtualListener({ channels: { orders } })
      expectObservable(db.channel('orders'), '^------!').toBe('-a--b---', { a, b })
    }))

  it('turns a drawn payload into a notification from another process, stamped with its frame', () =>
    runMarbles(({ hot, expectObservable }) => {
      const db = createVirtualListener({ channels: { orders: hot('--a-', { a: 'x' }) } })
      expectObservable(db.channel('orders'), '^--!').toBe('--a-', { a: { channel: 'orders', payload: 'x', processId: VIRTUAL_PEER_PROCESS_ID, receivedAt: 2 } })
    }))

  it('takes channels drawn as strings, with shared values, from runMarbles', () =>
    runMarbles(({ virtualListener, expectObservable }) => {
      const db = virtualListener({ channels: { orders: '-a-b--', refunds: '--c---' }, values: { a: '{"id":1}', c: '{"id":9}' } })
      expectObservable(db.channel('orders').pipe(payloadOf), '^-----!').toBe(' -a-b--', { a: '{"id":1}', b: 'b' })
      expectObservable(db.channel('refunds').pipe(payloadOf), '^-----!').toBe('--c---', { c: '{"id":9}' })
    }))

  it('refuses a string diagram without a way to make it hot', () => {
    const db = createVirtualListener({ channels: { orders: '-a-' } })
    expect(() => db.channel('orders')).toThrow(/needs options.hot/)
  })

  it('shares one subscription to the drawn source among all subscribers', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const orders = hot('   -a--b--c--')
      const db = createVirtualListener({ channels: { orders } })
      expectObservable(db.channel('orders').pipe(payloadOf), '^------!').toBe('-a--b---')
      expectObservable(db.channel('orders').pipe(payloadOf), '---^------!').toBe('----b--c--')
      expectSubscriptions(orders.subscriptions).toBe('^---------!')
    }))

  it('subscribes to the drawn source at the first subscriber and lets go after the last', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const orders = hot('  -a--b--c--d-')
      const db = createVirtualListener({ channels: { orders } })
      expectObservable(db.channel('orders').pipe(payloadOf), '--^--!').toBe('----b-')
      expectObservable(db.channel('orders').pipe(payloadOf), '--------^--!').toBe('----------d-')
      expectSubscriptions(orders.subscriptions).toBe(['--^--!', '--------^--!'])
    }))

  it('starts a cold drawn source at the first subscription', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener({ channels: { orders: cold('-a-') } })
      expectObservable(db.channel('orders').pipe(payloadOf), '---^--!').toBe('----a-')
    }))

  it('gives the same Observable for the same name', () => {
    const db = createVirtualListener()
    expect(db.channel('orders')).toBe(db.channel('orders'))
    expect(db.channel('Orders')).not.toBe(db.channel('orders'))
  })

  it('refuses an empty name with InvalidChannelNameError', () => {
    const db = createVirtualListener()
    expect(() => db.channel('')).toThrow(InvalidChannelNameError)
  })

  it('refuses a name over 63 bytes with InvalidChannelNameError', () => {
    const db = createVirtualListener()
    expect(() => db.channel('é'.repeat(32))).toThrow(InvalidChannelNameError)
  })

  it('completes every channel on close()', () =>
    runMarbles(({ hot, cold, expectObservable }) => {
      const db = createVirtualListener({ channels: { orders: hot('-a-b-c') } })
      cold('---|').subscribe({ complete: () => void db.close() })
      expectObservable(db.channel('orders').pipe(payloadOf)).toBe('-a-|')
      expectObservable(db.channel('refunds')).toBe('---|')
    }))

  it('completes a subscription made after close() at once, without touching the drawn source', () =>
    runMarbles(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const orders = hot('-a-b-c')
      const db = createVirtualListener({ channels: { orders } })
      cold('--|').subscribe({ complete: () => void db.close() })
      expectObservable(db.channel('orders'), '----^').toBe('----|')
      expectSubscriptions(orders.subscriptions).toBe([])
    }))
})

describe('virtual listener: sending', () => {
  it('records what is sent through notify$ and notify(), in call order', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener()
      cold('-a-(bc)').subscribe((step) => {
        if (step === 'a') db.notify$.next({ channel: 'orders', payload: '1' })
        if (step === 'b') void db.notify('orders', '2')
        if (step === 'c') db.notify$.next({ channel: 'orders' })
      })
      expectObservable(db.sent$).toBe('-a-(bc)', {
        a: { channel: 'orders', payload: '1' },
        b: { channel: 'orders', payload: '2' },
        c: { channel: 'orders', payload: '' },
      })
    }))

  it('reports a notification the real sink would refuse on errors$, and does not record it', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener()
      cold('-a-b').subscribe((step) => {
        if (step === 'a') db.notify$.next({ channel: '', payload: 'x' })
        if (step === 'b') db.notify$.next({ channel: 'orders', payload: 'x'.repeat(8000) })
      })
      expectObservable(db.sent$).toBe('----')
      expectObservable(db.errors$).toBe('-a-b', {
        a: new InvalidChannelNameError({ channel: '', reason: 'empty', limit: 63 }),
        b: new PayloadTooLargeError({ channel: 'orders', byteLength: 8000, limit: 7999 }),
      })
    }))

  // The real sink refuses anything but a { channel, payload? } object; the virtual one sent a bare channel name
  // as an empty notification, so a marble test passed on code that sends nothing in production.
  it('reports a value the real sink would refuse as not a notification, and records nothing', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener()
      const given: Record<string, unknown> = { a: 'orders', b: ['orders', 'x'], c: null }
      cold('-a-b-c').subscribe((step) => db.notify$.next(given[step] as never))
      expectObservable(db.sent$).toBe('------')
      expectObservable(db.errors$).toBe('-a-b-c', {
        a: new InvalidSinkValueError({ sink: 'notify$', expected: '{ channel, payload? }', value: 'orders' }),
        b: new InvalidSinkValueError({ sink: 'notify$', expected: '{ channel, payload? }', value: ['orders', 'x'] }),
        c: new InvalidSinkValueError({ sink: 'notify$', expected: '{ channel, payload? }', value: null }),
      })
    }))

  it('counts such a value as a send failure, as the real sink does', () => {
    const db = createVirtualListener()
    const reported: unknown[] = []
    db.errors$.subscribe((error) => reported.push(error))
    db.notify$.next('orders' as never)
    expect(reported).toEqual([expect.any(InvalidSinkValueError)])
    expect(db.metrics.snapshot()).toMatchObject({ sent: 0, sendFailures: 1 })
  })

  it('rejects notify() with the same typed error the real sink gives', async () => {
    const db = createVirtualListener()
    await expect(db.notify('orders', 'x'.repeat(8000))).rejects.toBeInstanceOf(PayloadTooLargeError)
  })

  it('rejects notify() after close() with ListenerClosedError', async () => {
    const db = createVirtualListener()
    await db.close()
    await expect(db.notify('orders', 'x')).rejects.toBeInstanceOf(ListenerClosedError)
  })

  it('completes errors$ and sent$ on close(); a notify$.next() after it is a process warning (ListenerClosedError)', () => {
    // Caught here rather than printed, so the test run's log stays clean.
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    try {
      runMarbles(({ cold, expectObservable }) => {
        const db = createVirtualListener()
        cold('--|').subscribe({ complete: () => void db.close() })
        cold('----a').subscribe(() => db.notify$.next({ channel: 'orders', payload: 'late' }))
        expectObservable(db.errors$).toBe('--|')
        expectObservable(db.sent$).toBe('--|')
      })
      expect(emitWarning).toHaveBeenCalledTimes(1)
      expect(emitWarning.mock.calls[0]?.[0]).toBeInstanceOf(ListenerClosedError)
    } finally {
      emitWarning.mockRestore()
    }
  })

  it('loops a sent notification back to the subscribers of its channel, as an own notification', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener({ loopback: true })
      cold('--a').subscribe(() => db.notify$.next({ channel: 'orders', payload: 'mine' }))
      const own = db.channel('orders').pipe(map((n) => [n.payload, n.processId, db.isOwnNotification(n)] as const))
      expectObservable(own, '^---!').toBe('--a-', { a: ['mine', VIRTUAL_LISTENER_PROCESS_ID, true] })
    }))

  it('does not loop back unless asked to', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener()
      cold('--a').subscribe(() => db.notify$.next({ channel: 'orders', payload: 'mine' }))
      expectObservable(db.channel('orders'), '^---!').toBe('----')
    }))

  it('does not take a drawn notification from another process for an own one', () => {
    const db = createVirtualListener()
    expect(db.isOwnNotification(notification('orders', 'x'))).toBe(false)
    expect(db.isOwnNotification(notification('orders', 'x', { processId: db.processId }))).toBe(true)
  })

  it('draws a notification whose overrides are given as undefined as if they were left out', () => {
    expect(notification('orders', 'x', { processId: undefined, receivedAt: undefined })).toEqual(notification('orders', 'x'))
  })
})

describe('virtual listener: state', () => {
  it('is connected from the start unless a state is drawn', () =>
    runMarbles(({ expectObservable }) => {
      const db = createVirtualListener({ processId: 7 })
      expectObservable(db.state$).toBe('c', { c: { status: 'connected', processId: 7 } })
    }))

  it('plays the drawn states and replays the latest one to a late subscriber', () =>
    runMarbles(({ hot, expectObservable }) => {
      const states: Record<string, ListenerState> = {
        c: { status: 'connected', processId: 7 },
        r: { status: 'reconnecting', attempt: 1, delay: 100, lastError: lost },
        d: { status: 'connected', processId: 8, gap: { since: 2, duration: 3 } },
      }
      const db = createVirtualListener({ state: hot('c-r--d-', states) })
      expectObservable(db.state$).toBe('          c-r--d-', states)
      expectObservable(db.state$, '---^').toBe('---r-d-', states)
    }))

  it('errors every channel, present and future, with the error of a failed state', () =>
    runMarbles(({ hot, expectObservable }) => {
      const db = createVirtualListener({
        channels: { orders: hot('-a-----') },
        state: hot('            c--f', { c: { status: 'connected', processId: 7 }, f: { status: 'failed', error: refused } }),
      })
      expectObservable(db.channel('orders').pipe(payloadOf)).toBe('-a-#', undefined, refused)
      expectObservable(db.channel('refunds'), '-----^').toBe('-----#', undefined, refused)
    }))

  it('emits closed and completes state$ on close()', () =>
    runMarbles(({ cold, expectObservable }) => {
      const db = createVirtualListener({ processId: 7 })
      cold('--|').subscribe({ complete: () => void db.close() })
      expectObservable(db.state$).toBe('c-(d|)', { c: { status: 'connected', processId: 7 }, d: { status: 'closed' } })
    }))

  it('closes when the drawn state says closed', () =>
    runMarbles(({ hot, expectObservable }) => {
      const db = createVirtualListener({ state: hot('c--d', { c: { status: 'connected', processId: 7 }, d: { status: 'closed' } }) })
      expectObservable(db.channel('orders')).toBe('---|')
    }))
})

describe('virtual listener: metrics', () => {
  it('counts notifications received by subscribed channels, sends, refusals, reconnections and their attempts', () => {
    runMarbles(({ hot, cold }) => {
      const db = createVirtualListener({
        channels: { orders: hot('-a-b-c') },
        state: hot('c-r-c', { c: { status: 'connected', processId: 7 }, r: { status: 'reconnecting', attempt: 1, delay: 100, lastError: lost } }),
      })
      db.channel('orders').subscribe()
      cold('--ab').subscribe((step) => db.notify$.next({ channel: step === 'a' ? 'orders' : '', payload: 'x' }))
      db.errors$.subscribe()
      cold('------|').subscribe({
        complete: () =>
          expect(db.metrics.snapshot()).toEqual({ received: 3, sent: 1, sendFailures: 1, decodeFailures: 0, reconnects: 1, reconnectAttempts: 1, sendReconnects: 0, queueDepth: 0, dropped: 0 }),
      })
    })
  })

  it('records what operators report into it', () => {
    const db = createVirtualListener()
    db.metrics.recordDecodeFailure()
    db.metrics.recordDropped(3)
    expect(db.metrics.snapshot()).toMatchObject({ decodeFailures: 1, dropped: 3 })
  })

  it('says which channel drew what at which frame when a drawn value is not a notification', () =>
    runMarbles(({ hot, expectObservable }) => {
      const db = createVirtualListener({ channels: { orders: hot('-a--b-', { a: '{"id":1}' }) } })
      const error = new TypeError(
        'rxpg/testing: channel "orders" drew undefined at frame 4: a drawn value is a payload string or a PgNotification (with hot(...) of your own, give every letter a value)',
      )
      expectObservable(db.channel('orders').pipe(map((n) => n.payload))).toBe('-a--#', { a: '{"id":1}' }, error)
    }))
})
