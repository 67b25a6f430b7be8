/**
 * Gathered reads: while the stream is behind (the server sends a transaction 10 ms or more after its commit,
 * both by the server's clock), reading pauses once the reads ready now are consumed and resumes `window` ms
 * later (3 by default), so each read carries what arrived meanwhile instead of one or two changes. Caught up,
 * every read is taken at once. One frame is 1 ms; `p` is a pause, `r` a resume of reading.
 */
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, started, virtualReplicationSource } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { virtualChangeStream } from './support/replication.js'

const positionOf = (item: unknown) => (item as { position: string }).position
const flow = { p: 'pause', r: 'resume' }

/** One row committed at 0/2000000, sent by the server `lag` ms after its commit. */
const sentAfter = (lag: number) => ({
  s: started,
  b: begin('0/2000000', 1000, 1_700_000_000_000, 1_700_000_000_000 + lag),
  x: insert('orders', { id: 1 }),
  c: commit('0/2000000', '0/2000100'),
})

describe('replication read gathering', () => {
  it('pauses reading for 3 ms after a transaction the server sent 10 ms or more after its commit', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(10)) } })])
      virtualChangeStream(source, scheduler).changes$.subscribe()
      expectObservable(source.flow$).toBe('5ms p 2ms r', flow)
    }))

  it('reads at once while the stream keeps up', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(9)) } })])
      const stream = virtualChangeStream(source, scheduler)
      stream.changes$.subscribe()
      expectObservable(source.flow$).toBe('', flow)
      scheduler.schedule(() => expect(stream.metrics.snapshot().gatheredReads).toBe(0), 20)
    }))

  it('takes its lag and window from gatherReads, and never gathers with gatherReads: false', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const tuned = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(3)) } })])
      virtualChangeStream(tuned, scheduler, { gatherReads: { behind: 2, window: 4 } }).changes$.subscribe()
      expectObservable(tuned.flow$).toBe('5ms p 3ms r', flow)
      const off = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(60_000)) } })])
      virtualChangeStream(off, scheduler, { gatherReads: false }).changes$.subscribe()
      expectObservable(off.flow$).toBe('', flow)
    }))

  it('pauses once per window, however many transactions behind arrive in it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const three = {
        ...sentAfter(50),
        B: begin('0/2000200', 1001, 1_700_000_000_000, 1_700_000_000_050),
        y: insert('orders', { id: 2 }),
        C: commit('0/2000200', '0/2000300'),
        D: begin('0/2000400', 1002, 1_700_000_000_000, 1_700_000_000_060),
        z: insert('orders', { id: 3 }),
        E: commit('0/2000400', '0/2000500'),
      }
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxcByC)--(DzE)', three) } })])
      const stream = virtualChangeStream(source, scheduler, { gatherReads: { window: 2 } })
      stream.changes$.subscribe()
      // Two transactions at 5: one pause, resumed at 7. The next one behind, at 15: paused again until 17.
      expectObservable(source.flow$).toBe('5ms p - r 7ms p - r', flow)
      scheduler.schedule(() => expect(stream.metrics.snapshot().gatheredReads).toBe(2), 20)
    }))

  it('goes on gathering through the changes of a transaction that began behind, and stops with one that begins caught up', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const values = {
        ...sentAfter(50),
        y: insert('orders', { id: 2 }),
        z: insert('orders', { id: 3 }),
        B: begin('0/2000200', 1001, 1_700_000_000_100, 1_700_000_000_101),
        w: insert('orders', { id: 4 }),
        C: commit('0/2000200', '0/2000300'),
      }
      // One large transaction behind, its changes spread out (a big transaction streams for a while): each
      // change past a window opens the next one. Then a transaction sent 1 ms after its commit: read at once.
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---bx---y---zc-B-w-C', values) } })])
      virtualChangeStream(source, scheduler, { gatherReads: { window: 1 } }).changes$.subscribe()
      expectObservable(source.flow$).toBe('5ms p r 3ms p r 2ms p r', flow)
    }))

  it('leaves reading paused at the end of the window while maxUnacknowledged is reached; the acknowledgement resumes it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(100)) } })])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 1 })
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      scheduler.schedule(() => stream.ack(positions[0] as string), 20)
      expectObservable(source.flow$).toBe('5ms p 14ms r', flow)
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ paused: true }), 10)
    }))

  it('an acknowledgement inside the window does not cut it short', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', sentAfter(100)) } })])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 1, gatherReads: { window: 5 } })
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      scheduler.schedule(() => stream.ack(positions[0] as string), 7)
      expectObservable(source.flow$).toBe('5ms p 4ms r', flow)
    }))
})
