/**
 * A server that shuts down while a stream holds changes unacknowledged: its WAL sender waits for everything it
 * sent to be confirmed before it may exit, which the stream cannot confirm without losing those changes. The
 * stream disconnects instead, so that the shutdown completes. This server runs with `wal_sender_timeout = 0`
 * (never), so nothing but the stream's own disconnect lets the stop finish: without it this spec hangs until
 * its time-out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { changeStream, ensureReplication, type Change } from '../../lib/replication/index.js'
import type { EmbeddedServer } from '../../support/embedded-server.js'
import { eventually } from '../support/database.js'
import { collect, query, startLogicalServer, stateOf } from '../support/replication.js'

let server: EmbeddedServer
beforeAll(async () => {
  server = await startLogicalServer({ wal_sender_timeout: '0' })
})
afterAll(async () => {
  await server.destroy()
})

describe('replication: a server shutting down', () => {
  it('stops (fast) while changes are unacknowledged, and the stream goes on after what it delivered once the server is back', { timeout: 60_000 }, async () => {
    await query(server.url, 'CREATE TABLE orders (id int PRIMARY KEY)')
    await ensureReplication(server.url, { slot: 'shutdown_slot', publication: 'shutdown_pub', tables: ['orders'] })
    const stream = changeStream(server.url, { slot: 'shutdown_slot', publication: 'shutdown_pub' })
    const changes = collect(stream.changes$)
    try {
      await stateOf(stream, 'connected')
      await query(server.url, 'INSERT INTO orders VALUES (1), (2)')
      await eventually(() => changes.values.length === 2, () => `${changes.values.length} changes`)
      expect(stream.metrics.snapshot().unacknowledged).toBe(2)

      await server.stop()
      await server.start()
      await query(server.url, 'INSERT INTO orders VALUES (3)')
      await eventually(() => changes.values.length >= 3, () => `${changes.values.length} changes`)
      expect(changes.values.map((change: Change) => change.new?.['id'])).toEqual([1, 2, 3])
      expect(changes.errors).toEqual([])
    } finally {
      changes.stop()
      await stream.close()
    }
  })
})
