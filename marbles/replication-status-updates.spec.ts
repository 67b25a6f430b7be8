/**
 * What a change stream tells the server, and when: standby status updates on a timer (here every 10 ms), with
 * the position acknowledgements moved the flush to; checkpoints while the watched tables are idle; liveness
 * probes; and flow control. One frame is 1 ms.
 *
 * Status values: `written` is what the server has sent, `flushed` what the user acknowledged (as the slot
 * must keep it: a transaction's commit LSN while it is acknowledged in part, its end LSN once whole).
 */
import { filter, map, tap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { ConnectionLostError } from '../lib/index.js'
import { begin, commit, insert, isCheckpoint, keepalive, started, virtualReplicationSource, type Transaction } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { reconnecting, resetByPeer, virtualChangeStream, virtualTransactionStream } from './support/replication.js'

const positionOf = (item: unknown) => (item as { position: string }).position
const status = (written: string, flushed: string, replyRequested = false, processId = 101) => ({ processId, written, flushed, replyRequested })

/** A transaction committed at 0/2000000 (its record ends at 0/2000100) with three inserts. */
const threeRows = {
  s: started,
  b: begin('0/2000000'),
  x: insert('orders', { id: 1 }),
  y: insert('orders', { id: 2 }),
  z: insert('orders', { id: 3 }),
  c: commit('0/2000000', '0/2000100'),
}

describe('replication status updates', () => {
  it('reports positions on the first tick, then only when they change, and at least every 10 s', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxc)', threeRows) } })])
      const stream = virtualChangeStream(source, scheduler, { frames: 20_100 })
      stream.changes$.subscribe((change) => stream.ack(positionOf(change)))
      // Connected at 1, ticks every 10 ms from 11.
      expectObservable(source.statusUpdates$).toBe('11ms a 9999ms a 9999ms a', { a: status('0/2000100', '0/2000100') })
    }))

  it('sends one update for every acknowledgement made between two ticks (acknowledgements are batched)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxyzc)', threeRows) } })])
      const stream = virtualChangeStream(source, scheduler)
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      // Delivered at 5; acknowledged one by one at 8, 9 and 10; reported together on the first tick, at 11.
      for (const [frame, index] of [[8, 0], [9, 1], [10, 2]] as const) scheduler.schedule(() => stream.ack(positions[index] as string), frame)
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000100', '0/2000100') })
    }))

  it('confirms only the commit LSN while a transaction is acknowledged in part, so that a restart decodes it again', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxyzc)', threeRows) } })])
      const stream = virtualChangeStream(source, scheduler)
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      scheduler.schedule(() => stream.ack(positions[1] as string), 8)
      scheduler.schedule(() => stream.ack(positions[2] as string), 15)
      expectObservable(source.statusUpdates$).toBe('11ms a 9ms b', { a: status('0/2000100', '0/2000000'), b: status('0/2000100', '0/2000100') })
    }))

  it('after a reconnect, still reports as flushed only what was acknowledged, not what was delivered', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // The three rows are delivered at 5 and never acknowledged; the connection is lost at 15. The second session
      // starts after what was delivered (0/2000100), and its status updates say so as written, while flushed
      // stays at the slot's 0/1000000: telling the slot 0/2000100 lost the rows if the consumer crashed then.
      const first = { processId: 101, stream: () => cold('s---(bxyzc)---#', threeRows, resetByPeer()) }
      const second = { processId: 102, facts: { slot: { confirmedFlush: '0/1000000' } }, stream: () => cold('s', threeRows) }
      const source = virtualReplicationSource([cold('-s', { s: first }), cold('-s', { s: second })])
      const stream = virtualChangeStream(source, scheduler, { frames: 40 })
      stream.changes$.subscribe()
      // It connects at 16; its first tick at 26.
      expectObservable(source.statusUpdates$.pipe(filter((update) => update.processId === 102))).toBe('26ms a', {
        a: status('0/2000100', '0/1000000', false, 102),
      })
    }))

  it('answers a keepalive that asks for a reply at once', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s--k', { s: started, k: keepalive('0/2500000', true) }) } })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.changes$).toBe('-')
      // Before the first tick; the tick then has nothing new to say.
      expectObservable(source.statusUpdates$).toBe('4ms r', { r: status('0/2500000', '0/1000000') })
    }))

  it('after healthCheck.interval of silence asks the server to answer; no answer within the timeout: reconnects', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const silentServer = { answersProbes: false }
      const source = virtualReplicationSource([cold('-s', { s: silentServer }), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { healthCheck: { interval: 30, timeout: 20 } })
      expectObservable(stream.changes$).toBe('-')
      // Last heard at 1 (started); ticks at 11, 21, 31: 30 ms silent, so a probe; at 51 it has gone unanswered for 20 ms.
      expectObservable(source.statusUpdates$.pipe(filter((update) => update.processId === 101))).toBe('11ms a 19ms p', {
        a: status('0/1000000', '0/1000000'),
        p: status('0/1000000', '0/1000000', true),
      })
      const silent = new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: 'the server did not answer a status request within 20 ms' })
      // The next server answers its probes: no further reconnect.
      expectObservable(stream.state$.pipe(filter((state) => state.status === 'reconnecting'))).toBe('51ms r', { r: reconnecting(1, 0, silent) })
    }))

  it('keeps a quiet connection whose server answers the probes', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { healthCheck: { interval: 30, timeout: 20 }, frames: 200 })
      expectObservable(stream.changes$).toBe('-')
      // A probe after every 30 ms of silence (at 31, 61, ...), each answered at once with the server's position.
      expectObservable(source.statusUpdates$.pipe(filter((update) => update.replyRequested))).toBe('31ms p 29ms q 29ms q 29ms q 29ms q 29ms q', {
        p: status('0/1000000', '0/1000000', true),
        q: status('0/3000000', '0/1000000', true),
      })
      expectObservable(stream.state$.pipe(filter((state) => state.status === 'reconnecting'))).toBe('-')
    }))

  it('answers a server that asks again and again at most once per interval, and lets it shut down when it waits for unacknowledged changes', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // After the transaction, the server asks for a status update every 2 ms and sends nothing else: a WAL
      // sender waiting, before it may exit, for the confirmation of all it sent.
      const asking = cold('s(bxc)' + '-k'.repeat(40), { ...threeRows, k: keepalive('0/2000100', true) })
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => asking } }), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.changes$.pipe(map((change) => (change as { op: string }).op))).toBe('--x', { x: 'insert' })
      expectObservable(source.statusUpdates$.pipe(filter((update) => update.processId === 101))).toBe('8ms a 2ms a 9ms a 9ms a', {
        a: status('0/2000100', '0/1000000'),
      })
      const shuttingDown = new ConnectionLostError({ detail: 'the server waits for unacknowledged changes to be confirmed before it shuts down; disconnected so that it can' })
      expectObservable(stream.state$.pipe(filter((state) => state.status === 'reconnecting'))).toBe('41ms r', { r: reconnecting(1, 0, shuttingDown) })
    }))

  it('shows the slot lag in metrics: the WAL between the server and what was confirmed to the slot, not what is acknowledged and not yet reported', () =>
    runMarbles(({ cold, scheduler }) => {
      // The slot is confirmed at 0/1000000, the server at 0/3000000; a transaction at 0/2000000 (ending at 0/2000100).
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxyzc) 20ms k', { ...threeRows, k: keepalive('0/3100000') }) } })])
      const stream = virtualChangeStream(source, scheduler)
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      scheduler.schedule(() => stream.ack(positions[2] as string), 8)
      const lag = () => {
        const { confirmedLsn, serverLsn, lagBytes } = stream.metrics.snapshot()
        return { confirmedLsn, serverLsn, lagBytes }
      }
      const seen: Record<number, unknown> = {}
      for (const frame of [2, 9, 12, 35]) scheduler.schedule(() => (seen[frame] = lag()), frame)
      scheduler.schedule(() => {
        expect(seen).toEqual({
          // Connected: the slot's own confirmed position.
          2: { confirmedLsn: '0/1000000', serverLsn: '0/3000000', lagBytes: 0x2000000 },
          // Acknowledged at 8, reported on the tick at 11: until then the slot still has its old position.
          9: { confirmedLsn: '0/1000000', serverLsn: '0/3000000', lagBytes: 0x2000000 },
          12: { confirmedLsn: '0/2000100', serverLsn: '0/3000000', lagBytes: 0x3000000 - 0x2000100 },
          // The server moves on (a keepalive at 32): the lag grows with it.
          35: { confirmedLsn: '0/2000100', serverLsn: '0/3100000', lagBytes: 0x3100000 - 0x2000100 },
        })
      }, 36)
    }))

  it('pauses reading while maxUnacknowledged items are unacknowledged, and resumes on acknowledgement', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---(bxyzc)', threeRows) } })])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 2 })
      const positions: string[] = []
      stream.changes$.subscribe((change) => positions.push(positionOf(change)))
      // The third row came in the same read: it waits in the stream. Acknowledging the first makes room for it:
      // two unacknowledged again, still paused. The second: resumed.
      scheduler.schedule(() => stream.ack(positions[0] as string), 15)
      scheduler.schedule(() => stream.ack(positions[1] as string), 20)
      expectObservable(source.flow$).toBe('5ms p 14ms r', { p: 'pause', r: 'resume' })
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ delivered: 2, unacknowledged: 2, paused: true }), 10)
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ delivered: 3, unacknowledged: 2, paused: true }), 16)
    }))

  it('delivers a checkpoint while the watched tables are idle and the server moves on; acknowledged, it moves the slot', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // 0.5 MB past the slot at 3: a checkpoint on the next tick. 2.6 MB further at 15: a checkpoint at once,
      // and its acknowledgement reported at once, so that the slot never trails by much more than 1 MB.
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-k 11ms K', { s: started, k: keepalive('0/1080000'), K: keepalive('0/1300000') }) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { checkpoints: true })
      const acknowledged = stream.changes$.pipe(tap((item) => stream.ack(positionOf(item))))
      expectObservable(acknowledged.pipe(filter(isCheckpoint), map((checkpoint) => checkpoint.lsn))).toBe('11ms c 3ms C', { c: '0/1080000', C: '0/1300000' })
      // The tick delivers the checkpoint first, so the update of the same tick carries its acknowledgement.
      expectObservable(source.statusUpdates$).toBe('11ms a 3ms b', { a: status('0/1080000', '0/1080000'), b: status('0/1300000', '0/1300000') })
    }))

  it('delivers each transaction whole at its commit in a transaction stream', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s---bxy-zc', threeRows) } })])
      const stream = virtualTransactionStream(source, scheduler)
      const rows = stream.transactions$.pipe(map((transaction) => (transaction as Transaction<{ new: unknown }>).changes.map((change) => change.new)))
      expectObservable(rows).toBe('10ms t', { t: [{ id: 1 }, { id: 2 }, { id: 3 }] })
    }))
})
