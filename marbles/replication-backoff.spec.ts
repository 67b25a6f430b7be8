/**
 * The change stream's reconnect schedule: the listener's back-off (lib/backoff.ts), drawn. One frame is one
 * millisecond; jitter is off (every delay is its nominal value).
 *
 * Letters: k/K connected, digits reconnecting (attempt).
 *
 * A session counts as healthy, and resets the back-off, once it has made progress: a transaction's commit, or a
 * keepalive (the server had nothing more to send). One that fails before (a server that cannot decode what
 * comes next, a crash on START_REPLICATION) keeps counting, so a fault that recurs at every connection backs off.
 */
import { filter, map } from 'rxjs'
import { describe, it } from 'vitest'
import { begin, commit, insert, keepalive, started, virtualReplicationSource, type Change, type VirtualReplicationScript } from '../lib/replication/index.js'
import { ConnectionLostError } from '../lib/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { connected, connecting, lostByReset, reconnecting, refusedByNetwork, resetByPeer, virtualChangeStream } from './support/replication.js'

describe('replication back-off', () => {
  it('after a lost connection, retries at once, then waits 100, 200, 400, 800 and 1600 ms, then 2000 ms for every later attempt', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const lostAfter3: VirtualReplicationScript = { stream: () => cold('s--#', { s: started }, resetByPeer()) }
      const refused = cold<VirtualReplicationScript>('-#', undefined, refusedByNetwork())
      const source = virtualReplicationSource([cold('-s', { s: lostAfter3 }), refused, refused, refused, refused, refused, refused, cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { frames: 6000 })
      expectObservable(stream.changes$, '-^').toBe('-')
      const retriesAndConnections = stream.state$.pipe(filter((state) => state.status === 'reconnecting' || state.status === 'connected'))
      expectObservable(retriesAndConnections).toBe('--k--12 100ms 3 200ms 4 400ms 5 800ms 6 1600ms 7 2000ms K', {
        k: connected(101, '0/1000000'),
        1: reconnecting(1, 0, lostByReset),
        2: reconnecting(2, 100),
        3: reconnecting(3, 200),
        4: reconnecting(4, 400),
        5: reconnecting(5, 800),
        6: reconnecting(6, 1600),
        7: reconnecting(7, 2000),
        K: connected(108, '0/1000000'),
      })
    }))

  it('when the very first connection fails, the first retry waits 100 ms and is attempt 1', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold<VirtualReplicationScript>('-#', undefined, refusedByNetwork()), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.changes$).toBe('-')
      expectObservable(stream.state$.pipe(filter((state) => state.status !== 'idle'))).toBe('c1 99ms dk', {
        c: connecting(1),
        1: reconnecting(1, 100),
        d: connecting(1),
        k: connected(102, '0/1000000'),
      })
    }))

  it('abandons a connection attempt that hangs after connectTimeout, and one whose replication never starts', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions, scheduler }) => {
      const hangs = cold<VirtualReplicationScript>('-')
      const neverStarts = cold('-')
      const source = virtualReplicationSource([hangs, cold('-s', { s: { stream: () => neverStarts } }), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { connectTimeout: 1000, frames: 3000 })
      expectObservable(stream.changes$).toBe('-')
      expectSubscriptions(hangs.subscriptions).toBe('^ 999ms !')
      expectSubscriptions(neverStarts.subscriptions).toBe('1101ms ^ 999ms !')
      const giveUp = (detail: string) => new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail })
      expectObservable(stream.state$.pipe(filter((state) => state.status === 'reconnecting' || state.status === 'connected'))).toBe(
        '1000ms a 1100ms b 200ms k',
        {
          a: reconnecting(1, 100, giveUp('no connection within 1000 ms')),
          b: reconnecting(2, 200, giveUp('replication did not start within 1000 ms')),
          k: connected(103, '0/1000000'),
        },
      )
    }))

  it('backs off while each session fails before making progress, and retries at once after one that committed or got a keepalive', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const failsAtOnce: VirtualReplicationScript = { stream: () => cold('s#', { s: started }, resetByPeer()) }
      const failsAfterCommit: VirtualReplicationScript = {
        stream: () => cold('sbic#', { s: started, b: begin('0/2000000'), i: insert('orders', { id: 1 }), c: commit('0/2000000', '0/2000010') }, resetByPeer()),
      }
      const failsAfterKeepalive: VirtualReplicationScript = { stream: () => cold('sk#', { s: started, k: keepalive('0/2000020') }, resetByPeer()) }
      const source = virtualReplicationSource([
        cold('-s', { s: failsAtOnce }),
        cold('-s', { s: failsAtOnce }),
        cold('-s', { s: failsAtOnce }),
        cold('-s', { s: failsAfterCommit }),
        cold('-s', { s: failsAfterKeepalive }),
        cold('-s', { s: {} }),
      ])
      const stream = virtualChangeStream(source, scheduler, { frames: 3000 })
      expectObservable(stream.changes$.pipe(map((change) => (change as Change).op))).toBe(' 310ms i', { i: 'insert' })
      const retriesAndConnections = stream.state$.pipe(filter((state) => state.status === 'reconnecting' || state.status === 'connected'))
      expectObservable(retriesAndConnections).toBe('-abcd 100ms ef 200ms g---hi-jK', {
        a: connected(101, '0/1000000'),
        b: reconnecting(1, 0, lostByReset),
        c: connected(102, '0/1000000'),
        d: reconnecting(2, 100, lostByReset),
        e: connected(103, '0/1000000'),
        f: reconnecting(3, 200, lostByReset),
        g: connected(104, '0/1000000'),
        h: reconnecting(1, 0, lostByReset),
        i: connected(105, '0/2000010'),
        j: reconnecting(1, 0, lostByReset),
        K: connected(106, '0/2000010'),
      })
    }))
})
