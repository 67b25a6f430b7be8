/**
 * A watched table is known by its OID as well as its name: the server names each change's table as it was called
 * when the change was written, so the changes of a table renamed under a running stream (or written under another
 * name and replayed) come under that other name. They are the watched table's, delivered under the name it is
 * watched by. The OIDs are read with the names at each start and each publication check, so a table that took
 * the watched name since (a swap) is followed from the check on. One frame is 1 ms; relation 16400 is the
 * `orders` the stream started with.
 */
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import { begin, commit, insert, started, virtualReplicationSource, type Change } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { virtualChangeStream } from './support/replication.js'

const startFacts = { tableOids: { 'public.orders': 16400 } }
const messages = {
  s: started,
  b: begin('0/2000000'),
  1: { ...insert('orders', { id: 1 }), relation: 16400 },
  2: { ...insert('orders_old', { id: 2 }), relation: 16400 },
  r: { ...insert('refunds', { id: 9 }), relation: 16401 },
  c: commit('0/2000000', '0/2000100'),
  B: begin('0/2000200'),
  3: { ...insert('orders_old', { id: 3 }), relation: 16400 },
  4: { ...insert('orders', { id: 4 }), relation: 16500 },
  C: commit('0/2000200', '0/2000300'),
}
/** A delivered change as `schema.table id`, and `last` for the last of its transaction. */
const summary = map((item: unknown) => {
  const change = item as Change<{ id: number }>
  return `${change.schema}.${change.table} ${change.new?.id ?? ''}${change.lastInTransaction ? ' last' : ''}`
})

describe('replication: a watched table under another name', () => {
  it('delivers its changes under the watched name, and leaves out other tables', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { facts: startFacts, stream: () => cold('s-(b12rc)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { tables: ['orders'], recheckInterval: false, frames: 100 })
      expectObservable(stream.changes$.pipe(summary), '-^').toBe('----(xy)', { x: 'public.orders 1', y: 'public.orders 2 last' })
    }))

  it('follows the table that has the name at the last check: after a swap, the old one is left out', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // The first check (asked at 102, answered at 103) finds that `orders` is now another table.
      const source = virtualReplicationSource([cold('-s', { s: { facts: startFacts, stream: () => cold('s 199ms (B34C)', messages) } })], {
        publication: () => cold('-a', { a: { tableOids: { 'public.orders': 16500 } } }),
      })
      const stream = virtualChangeStream(source, scheduler, { tables: ['orders'], recheckInterval: 100, frames: 400 })
      expectObservable(stream.changes$.pipe(summary), '-^').toBe('- 201ms x', { x: 'public.orders 4 last' })
    }))

  it('matches by name alone when the server gave no OIDs', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12rc)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { tables: ['orders'], recheckInterval: false, frames: 100 })
      expectObservable(stream.changes$.pipe(summary), '-^').toBe('----x', { x: 'public.orders 1 last' })
    }))
})
