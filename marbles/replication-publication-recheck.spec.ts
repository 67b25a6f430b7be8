/**
 * A streaming change stream checks its publication again every `recheckInterval`, drawn on a virtual server
 * whose checks answer one frame after they are asked. One frame is 1 ms. The server's session itself says nothing
 * when the publication goes (pgoutput skips it): only the check can tell.
 */
import { describe, it } from 'vitest'
import { ReplicationSetupError, virtualReplicationSource } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { connected, connecting, failed, idle, virtualChangeStream } from './support/replication.js'

const dropped = new ReplicationSetupError({ reason: 'publication-missing', slot: 'orders_feed', publication: 'orders_pub', detail: 'no publication named orders_pub' })
const withoutRefunds = new ReplicationSetupError({
  reason: 'table-not-published',
  slot: 'orders_feed',
  publication: 'orders_pub',
  detail: 'public.refunds is not in publication orders_pub',
  table: 'public.refunds',
})

describe('replication: the publication checked again while streaming', () => {
  it('fails the stream, with the error a start would give, at the first check that finds it dropped', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })], { publication: (check) => cold('-a', { a: check < 2 ? {} : { publicationExists: false } }) })
      const stream = virtualChangeStream(source, scheduler, { recheckInterval: 100, frames: 400 })
      // Connected at 2; checks asked at 102 (fine, at 103) and 202 (dropped, at 203).
      expectObservable(stream.changes$, '-^').toBe('- 202ms #', undefined, dropped)
      expectObservable(stream.state$).toBe('ick 200ms f', { i: idle, c: connecting(1), k: connected(101, '0/1000000'), f: failed(dropped) })
    }))

  it('fails it when a table the stream delivers was taken out of the publication', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })], { publication: () => cold('-a', { a: { publishedTables: ['public.orders'] } }) })
      const stream = virtualChangeStream(source, scheduler, { recheckInterval: 100, tables: ['public.orders', 'public.refunds'], frames: 400 })
      expectObservable(stream.changes$, '-^').toBe('- 102ms #', undefined, withoutRefunds)
    }))

  it('goes on when a check cannot be made, and when recheckInterval is false', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const unreachable = virtualReplicationSource([cold('-s', { s: {} })], { publication: () => cold('-#', undefined, new Error('connect ECONNREFUSED')) })
      expectObservable(virtualChangeStream(unreachable, scheduler, { recheckInterval: 100, frames: 400 }).changes$, '-^').toBe('-')
      const off = virtualReplicationSource([cold('-s', { s: {} })], { publication: () => cold('-a', { a: { publicationExists: false } }) })
      expectObservable(virtualChangeStream(off, scheduler, { recheckInterval: false, frames: 400 }).changes$, '-^').toBe('-')
    }))
})
