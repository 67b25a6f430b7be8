/**
 * The self-probe, drawn: on every new connection, after the LISTEN batch, the listener sends one NOTIFY to a
 * private channel through the SENDING connection and waits (here 50 frames; default 5 s) for it to arrive on
 * the listening one. Only then is it connected. A probe that never arrives (a transaction-mode pooler) or a
 * NOTIFY the server refuses (a read-only replica) ends in `failed` with `DeliveryBrokenError`.
 *
 * States as letters: i idle, c connecting, k connected, f failed.
 */
import { Observable, Subject, map, type SchedulerLike } from 'rxjs'
import { describe, it } from 'vitest'
import { ListenerConnection, type SelfProbe } from '../lib/connection/listener-connection.js'
import { ConnectionLostError, DeliveryBrokenError, type ListenerState } from '../lib/index.js'
import { SendFailure } from '../lib/notify/notify-transport.js'
import type { NotificationSource, RawNotification } from '../lib/sources/notification-source.js'
import { runMarbles, virtualSource } from '../lib/testing/index.js'
import { statusLetters } from './support/lifecycle.js'

const probeChannel = 'rxpg_probe_test'

/** A listener connection on `source`, probing through `send`; its states as an Observable. */
function probedConnection(
  source: NotificationSource,
  scheduler: SchedulerLike,
  send: SelfProbe['send'],
): { states: Observable<ListenerState>; connection: ListenerConnection } {
  const states = new Subject<ListenerState>()
  const connection = new ListenerConnection(
    source,
    {
      scheduler,
      backoff: { random: () => 0 },
      connectTimeout: 10_000,
      healthCheck: false,
      classify: (error) => (error instanceof ConnectionLostError ? error : new ConnectionLostError({ detail: (error as Error).message })),
      selfProbe: { channel: probeChannel, timeout: 50, send },
    },
    { deliver: () => undefined, state: (state) => states.next(state), failed: () => undefined },
  )
  return { states, connection }
}

const statusOf = map((state: ListenerState) => state.status)

describe('self-probe', () => {
  it('is connected once the probe sent through the other connection arrives on the listening one', () =>
    runMarbles(({ cold, hot, expectObservable, scheduler }) => {
      // Connection 101 opens at 1; its first probe, "101000001", is sent at 1 and arrives at 4.
      const arrivals = hot<RawNotification>('----p', { p: { channel: probeChannel, payload: '101000001', processId: 7 } })
      const source = virtualSource([cold('-s', { s: { processId: 101, notifications: arrivals } })])
      const sent: string[] = []
      const { states, connection } = probedConnection(source, scheduler, (_channel, payload) => {
        sent.push(payload)
        return cold('(a|)')
      })
      expectObservable(states.pipe(statusOf)).toBe('c---k', statusLetters)
      expectObservable(source.listens$.pipe(map((batch) => batch.add))).toBe('-a', { a: ['orders', probeChannel] })
      scheduler.schedule(() => connection.want('orders'))
    }))

  it('fails with DeliveryBrokenError when the probe never arrives (a transaction-mode pooler)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })])
      const { states, connection } = probedConnection(source, scheduler, () => cold('(a|)'))
      expectObservable(states).toBe('c 50ms f', {
        c: { status: 'connecting', attempt: 1 },
        f: {
          status: 'failed',
          error: new DeliveryBrokenError({
            reason: 'probe-not-delivered',
            detail: 'a NOTIFY sent through the sending connection did not reach the listening connection within 50 ms',
          }),
        },
      })
      scheduler.schedule(() => connection.want('orders'))
    }))

  it('fails with DeliveryBrokenError when the server refuses the NOTIFY (a read-only replica)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const refused = Object.assign(new Error('cannot execute NOTIFY during recovery'), { code: '25006' })
      const source = virtualSource([cold('-s', { s: { processId: 101 } })])
      const { states, connection } = probedConnection(source, scheduler, () => cold('--#', undefined, new SendFailure('rejected', refused)))
      expectObservable(states).toBe('c--f', {
        c: { status: 'connecting', attempt: 1 },
        f: {
          status: 'failed',
          error: new DeliveryBrokenError({ reason: 'notify-refused', sqlState: '25006', detail: 'cannot execute NOTIFY during recovery' }),
        },
      })
      scheduler.schedule(() => connection.want('orders'))
    }))

  it('reconnects, not fails, when the sending connection is merely unavailable', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } }), cold('-s', { s: { processId: 102 } })])
      let probes = 0
      const { states, connection } = probedConnection(source, scheduler, () =>
        ++probes === 1 ? cold('-#', undefined, new SendFailure('unavailable', new Error('connect ECONNREFUSED'))) : cold('(a|)'),
      )
      // The first probe cannot be sent: retry after 100 ms; the second connection's probe is never answered either.
      expectObservable(states.pipe(statusOf)).toBe('c-r 99ms c 50ms f', statusLetters)
      scheduler.schedule(() => connection.want('orders'))
    }))
})
