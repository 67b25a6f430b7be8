/**
 * Flow control: while `maxUnacknowledged` delivered items are unacknowledged, reading pauses, and what the
 * parser had already taken from the socket waits in the stream (not at the consumer) until acknowledgements make
 * room. One frame is 1 ms; `p` is a pause, `r` a resume of reading; the values are row ids.
 */
import { take } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, started, virtualReplicationSource } from '../lib/replication/index.js'
import type { Change } from '../lib/replication/index.js'
import { runMarbles, type MarbleHelpers } from '../lib/testing/index.js'
import { resetByPeer, virtualChangeStream } from './support/replication.js'

const flow = { p: 'pause', r: 'resume' }
/** One transaction of five rows, all in one read (as one socket read carries hundreds of changes). */
const fiveRows = {
  s: started,
  b: begin('0/2000000'),
  1: insert('orders', { id: 1 }),
  2: insert('orders', { id: 2 }),
  3: insert('orders', { id: 3 }),
  4: insert('orders', { id: 4 }),
  5: insert('orders', { id: 5 }),
  c: commit('0/2000000', '0/2000500'),
}
const idOf = (item: unknown) => String((item as Change<{ id: number }>).new?.id)
/** The five rows with row `n` negative, which `positive` refuses. */
const refusing = (n: 4 | 5) => ({ ...fiveRows, [n]: insert('orders', { id: -n }) })
const positive = (row: unknown) => ((row as { id: number }).id > 0 ? { _tag: 'Right' as const, right: row } : { _tag: 'Left' as const, left: 'negative' })
/** Flow control at a bound of 2, rows decoded by `positive` (the diagram helper types tables as a list; the stream takes name → decoder too). */
const refusingStream = { maxUnacknowledged: 2, gatherReads: false as const, tables: { orders: positive } as never }

/** A server that sends the five rows in one read, loses the connection at 7, then sends them again. */
function lostAfterOneRead(cold: MarbleHelpers['cold']) {
  return virtualReplicationSource([
    cold('-s', { s: { stream: () => cold('s-(b12345c)---#', fiveRows, resetByPeer()) } }),
    cold('-s', { s: { stream: () => cold('s-(b12345c)', fiveRows) } }),
  ])
}

describe('replication flow control', () => {
  it('delivers no more than maxUnacknowledged unacknowledged changes, whatever one read carried', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12345c)', fiveRows) } })])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 2, gatherReads: false })
      const delivered: Array<Change<unknown>> = []
      const seen: string[] = []
      stream.changes$.subscribe((item) => {
        delivered.push(item as Change<unknown>)
        seen.push(`${scheduler.now()}:${idOf(item)}`)
      })
      // Acknowledges everything delivered so far, at 10 and at 20.
      for (const at of [10, 20]) scheduler.schedule(() => stream.ack((delivered.at(-1) as Change<unknown>).position), at)
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ unacknowledged: 2, paused: true }), 5)
      scheduler.schedule(() => expect(seen).toEqual(['3:1', '3:2', '10:3', '10:4', '20:5']), 30)
      expectObservable(source.flow$).toBe('3ms p 16ms r', flow)
    }))

  it('drops what waits when the connection is lost: the next session sends it again, nothing lost or repeated', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = lostAfterOneRead(cold)
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 2, gatherReads: false })
      const delivered: Array<Change<unknown>> = []
      stream.changes$.subscribe((item) => void delivered.push(item as Change<unknown>))
      // Rows 1 and 2 are delivered, 3 to 5 wait when the connection is lost at 7; acknowledged from 50 on.
      for (const at of [50, 60, 70]) scheduler.schedule(() => stream.ack((delivered.at(-1) as Change<unknown>).position), at)
      scheduler.schedule(() => expect(delivered.map(idOf)).toEqual(['1', '2', '3', '4', '5']), 100)
    }))

  it('never repeats an item it handed on before the connection was lost with others still waiting', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = lostAfterOneRead(cold)
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 2, gatherReads: false })
      const delivered: Array<Change<unknown>> = []
      stream.changes$.subscribe((item) => void delivered.push(item as Change<unknown>))
      // Acknowledging row 1 at 5 hands on row 3; rows 4 and 5 still wait when the connection is lost at 7.
      scheduler.schedule(() => stream.ack((delivered[0] as Change<unknown>).position), 5)
      for (const at of [50, 60, 70]) scheduler.schedule(() => stream.ack((delivered.at(-1) as Change<unknown>).position), at)
      scheduler.schedule(() => expect(delivered.map(idOf)).toEqual(['1', '2', '3', '4', '5']), 100)
    }))

  it('resumes after what it handed on and the slot confirmed, not before it (which the slot would refuse for good)', () =>
    runMarbles(({ cold, scheduler }) => {
      const twoTransactions = {
        s: started,
        b: begin('0/2000000'),
        a: insert('orders', { id: 1 }),
        c: commit('0/2000000', '0/2000100'),
        B: begin('0/2000200'),
        2: insert('orders', { id: 2 }),
        3: insert('orders', { id: 3 }),
        4: insert('orders', { id: 4 }),
        C: commit('0/2000200', '0/2000500'),
      }
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(bacB234C) 12ms #', twoTransactions, resetByPeer()) } }),
        // The slot confirmed what the first session reported before it was lost.
        cold('-s', { s: { facts: { slot: { confirmedFlush: '0/2000200' } }, stream: () => cold('s-(B234C)', twoTransactions) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 1, gatherReads: false, frames: 200 })
      const states: string[] = []
      stream.state$.subscribe((state) => states.push(state.status))
      const delivered: Array<Change<unknown>> = []
      stream.changes$.subscribe({ next: (item) => void delivered.push(item as Change<unknown>), error: () => undefined })
      scheduler.schedule(() => stream.ack((delivered[0] as Change<unknown>).position), 5) // hands on row 2
      scheduler.schedule(() => stream.ack((delivered[1] as Change<unknown>).position), 6) // hands on row 3; row 4 waits
      for (const at of [60, 70]) scheduler.schedule(() => stream.ack((delivered.at(-1) as Change<unknown>).position), at)
      scheduler.schedule(() => {
        expect(states).not.toContain('failed')
        expect(delivered.map(idOf)).toEqual(['1', '2', '3', '4'])
      }, 150)
    }))

  it('hands on what waited before a refused row as room is made, then fails', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12345c)', refusing(4)) } })])
      const stream = virtualChangeStream(source, scheduler, refusingStream)
      const delivered: Array<Change<unknown>> = []
      let failure: unknown
      stream.changes$.subscribe({ next: (item) => void delivered.push(item as Change<unknown>), error: (error: unknown) => (failure = error) })
      scheduler.schedule(() => expect(failure).toBeUndefined(), 5) // row 3 waits for room; the refusal waits behind it
      scheduler.schedule(() => stream.ack((delivered[0] as Change<unknown>).position), 10)
      scheduler.schedule(() => {
        expect(failure).toBeDefined()
        expect(delivered.map(idOf)).toEqual(['1', '2', '3'])
      }, 100)
    }))

  it('fails on a refused row only once what waited before it has had room, and not at all if the subscriber left first', () =>
    runMarbles(({ cold, scheduler }) => {
      const session = cold('-s', { s: { stream: () => cold('s-(b12345c)', refusing(5)) } })
      const source = virtualReplicationSource([session, session])
      const stream = virtualChangeStream(source, scheduler, refusingStream)
      const states: string[] = []
      stream.state$.subscribe((state) => states.push(state.status))
      const first: Array<Change<unknown>> = []
      // take(3) leaves inside the delivery of row 3, which waits for room until row 1 is acknowledged at 10.
      stream.changes$.pipe(take(3)).subscribe((item) => void first.push(item as Change<unknown>))
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ unacknowledged: 2, paused: true }), 5)
      scheduler.schedule(() => stream.ack((first[0] as Change<unknown>).position), 10)
      scheduler.schedule(() => stream.ack((first[2] as Change<unknown>).position), 40) // all the first subscriber got
      const later: string[] = []
      scheduler.schedule(() => stream.changes$.subscribe({ next: (item) => void later.push(idOf(item)), error: () => void later.push('refused') }), 50)
      scheduler.schedule(() => {
        expect(first.map(idOf)).toEqual(['1', '2', '3'])
        // Idle when the first subscriber left (not failed while nobody listened), failed for the later one.
        expect(states).toEqual(['idle', 'connecting', 'connected', 'idle', 'connecting', 'connected', 'failed'])
        expect(later).toEqual(['4', 'refused'])
      }, 200)
    }))

  it('keeps to maxUnacknowledged with a refused row behind what waits', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12345c)', refusing(5)) } })])
      const stream = virtualChangeStream(source, scheduler, refusingStream)
      const got: string[] = []
      const delivered: Array<Change<unknown>> = []
      stream.changes$.subscribe({
        next: (item) => {
          delivered.push(item as Change<unknown>)
          got.push(`${scheduler.now()}:${idOf(item)}`)
        },
        error: () => void got.push(`${scheduler.now()}:refused`),
      })
      scheduler.schedule(() => expect(stream.metrics.snapshot().unacknowledged).toBe(2), 5)
      // Both acknowledged at 10: rows 3 and 4 get their room, and then the refusal comes.
      scheduler.schedule(() => stream.ack((delivered[1] as Change<unknown>).position), 10)
      scheduler.schedule(() => expect(got).toEqual(['3:1', '3:2', '10:3', '10:4', '10:refused']), 20)
    }))
})
