/**
 * Flow control: while `maxUnacknowledged` delivered items are unacknowledged, reading pauses, and what the
 * parser had already taken from the socket waits in the stream (not at the consumer) until acknowledgements make
 * room. One frame is 1 ms; `p` is a pause, `r` a resume of reading; the values are row ids.
 */
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, started, virtualReplicationSource } from '../lib/replication/index.js'
import type { Change } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { virtualChangeStream } from './support/replication.js'

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
      const lost = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(b12345c)---#', fiveRows, lost) } }),
        cold('-s', { s: { stream: () => cold('s-(b12345c)', fiveRows) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { maxUnacknowledged: 2, gatherReads: false })
      const delivered: Array<Change<unknown>> = []
      stream.changes$.subscribe((item) => void delivered.push(item as Change<unknown>))
      // Rows 1 and 2 are delivered, 3 to 5 wait when the connection is lost at 7; acknowledged from 50 on.
      for (const at of [50, 60, 70]) scheduler.schedule(() => stream.ack((delivered.at(-1) as Change<unknown>).position), at)
      scheduler.schedule(() => expect(delivered.map(idOf)).toEqual(['1', '2', '3', '4', '5']), 100)
    }))
})
