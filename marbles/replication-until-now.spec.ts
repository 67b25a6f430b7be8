/**
 * `until: 'now'`: a batch job's read. The stream takes the server's WAL position when it first connects as its
 * end, delivers every transaction committed before it, and completes once it knows nothing more is owed: at the
 * first transaction that committed at or after the end (not delivered), or when the server says it has decoded
 * past the end between transactions (a keepalive; the stream asks for one when it starts and at every status
 * tick until then). The slot is at 0/1000000 and the end at 0/3000000 unless a diagram says otherwise. One frame
 * is 1 ms; status updates every 10 ms; values are row ids, `k` a checkpoint.
 */
import { map } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, isCheckpoint, keepalive, started, virtualReplicationSource, type Change, type Transaction } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { closed, connected, connecting, idle, resetByPeer, virtualChangeStream, virtualTransactionStream } from './support/replication.js'

const idOf = (item: unknown) => (isCheckpoint(item) ? 'k' : String((item as Change<{ id: number }>).new?.id))
const status = (written: string, flushed: string, replyRequested = false, processId = 101) => ({ processId, written, flushed, replyRequested })

/** Two transactions committed before the end (0/2000000, 0/2800000) and one after it (0/4000000); keepalives below and at the end. */
const messages = {
  s: started,
  a: begin('0/2000000'),
  1: insert('orders', { id: 1 }),
  A: commit('0/2000000', '0/2000100'),
  b: begin('0/2800000'),
  2: insert('orders', { id: 2 }),
  B: commit('0/2800000', '0/2800100'),
  c: begin('0/4000000'),
  3: insert('orders', { id: 3 }),
  C: commit('0/4000000', '0/4000100'),
  k: keepalive('0/2900000'),
  K: keepalive('0/3000000'),
}

describe('replication: until now', () => {
  it('delivers what committed before the end and completes at the first transaction that committed after it, unread', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-(b2B)-(c3C)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('---1-----2-----|')
      // Short of the end, the stream asks the server where it is: as it starts, and at each status tick. At the end
      // its session ends, with nothing new to report.
      expectObservable(source.statusUpdates$).toBe('-a---------b', { a: status('0/1000000', '0/1000000', true), b: status('0/2800100', '0/1000000', true) })
      expectObservable(source.ends$).toBe('---------------a', { a: 101 })
      expectObservable(stream.state$).toBe('cC 13ms i', { i: idle, c: connecting(1), C: connected(101, '0/1000000') })
    }))

  it('completes when a keepalive says the server decoded past the end between transactions; one below it does not', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-k-(b2B)-K', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('---1-------2-----|')
    }))

  it('waits for the commit of a transaction the server is sending when its keepalive passes the end', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(b2)-K-B', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('----------(2|)')
    }))

  it('completes at once when nothing waits: the server answers the first probe at its position', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // answersProbes: the drawn server answers a probe with a keepalive at its current WAL position.
      const source = virtualReplicationSource([cold('-s', { s: { facts: { currentLsn: '0/1000000' } } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('-|')
    }))

  it('ends with a checkpoint where the server had decoded to, when checkpoints are on and the WAL moved past the last change', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-K', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now', checkpoints: true })
      const lsns: string[] = []
      stream.changes$.subscribe((item) => {
        if (isCheckpoint(item)) lsns.push(item.lsn)
      })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('---1-----(k|)')
      scheduler.schedule(() => expect(lsns).toEqual(['0/3000000']), 20)
    }))

  it('asks again at each status tick until the server is past the end', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // The server answers probes with keepalives at 0/2000000 (it is still decoding), then sends the end at 25.
      const source = virtualReplicationSource([
        cold('-s', { s: { facts: { currentLsn: '0/3000000' }, answersProbes: false, stream: () => cold('s 23ms K', messages) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('-------------------------|')
      expectObservable(source.statusUpdates$).toBe('-a 9ms a 9ms a 3ms b', { a: status('0/1000000', '0/1000000', true), b: status('0/3000000', '0/1000000') })
    }))

  it('completes only once what waits for acknowledgements (maxUnacknowledged) is handed on, and reads nothing more meanwhile', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1Ab2Bc3C)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now', maxUnacknowledged: 1, gatherReads: false })
      const delivered: string[] = []
      stream.changes$.subscribe((item) => delivered.push((item as Change<unknown>).position))
      scheduler.schedule(() => stream.ack(delivered[0] as string), 30)
      expectObservable(stream.changes$.pipe(mapIds())).toBe('---1 26ms (2|)')
    }))

  it('keeps the end of its first session across a reconnection: what committed after it is not delivered', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([
        cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-#', messages, resetByPeer()) } }),
        // The server has moved on to 0/5000000 meanwhile; the stream resumes after row 1.
        cold('-s', { s: { facts: { currentLsn: '0/5000000' }, answersProbes: false, stream: () => cold('s-(b2B)-(c3C)', messages) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      expectObservable(stream.changes$.pipe(mapIds())).toBe('---1--------2-----|')
    }))

  it('completes every subscriber, a later one at once; acknowledgements made after it are reported at close()', async () => {
    let closing: Promise<void> | undefined
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-(c3C)', messages) } }), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { until: 'now' })
      const delivered: string[] = []
      stream.changes$.subscribe((item) => delivered.push((item as Change<unknown>).position))
      expectObservable(stream.changes$.pipe(mapIds()), '10ms ^').toBe('10ms |')
      scheduler.schedule(() => {
        stream.ack(delivered[0] as string)
        closing = stream.close()
      }, 12)
      // close() reports the acknowledgement on a short session (the second connection).
      expectObservable(source.connects$).toBe('12ms b', { b: 2 })
      expectObservable(stream.state$).toBe('cC 7ms i 2ms (z|)', { i: idle, c: connecting(1), C: connected(101, '0/1000000'), z: closed })
    })
    await expect(closing).resolves.toBeUndefined()
  })

  it('works the same on transactions$: whole transactions up to the end', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { answersProbes: false, stream: () => cold('s-(a1A)-(b2B)-(c3C)', messages) } })])
      const stream = virtualTransactionStream(source, scheduler, { until: 'now' })
      expectObservable(stream.transactions$.pipe(mapIds((item) => (item as Transaction<Change<{ id: number }>>).changes.map((change) => change.new?.id).join('+')))).toBe('---1-----2-----|')
    }))

  it('refuses any other value of until, naming what it takes', () => {
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      expect(() => virtualChangeStream(source, scheduler, { until: 'later' as never })).toThrow(
        `rxpg/replication: changeStream's until must be 'now' (complete once every change committed before the stream first connected is delivered) or undefined (never complete); got a string ("later")`,
      )
    })
  })
})

/** Each item as its row ids (a change's id, `k` for a checkpoint). */
function mapIds(of: (item: unknown) => string = idOf) {
  return map(of)
}
