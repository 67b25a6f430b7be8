/**
 * catchUpAfterGaps against a real server restart: a writer commits a row and its NOTIFY every 3 ms, the server
 * restarts mid-stream, and a reader that catches up from a cursor ("rows after the last id I saw") ends with
 * every committed row. A dedicated server, so the restart disturbs no other spec.
 */
import pg from 'pg'
import { filter, firstValueFrom, from, map, mergeMap } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catchUpAfterGaps, createPgListener } from '../../lib/index.js'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { adminQuery, eventually } from '../support/database.js'
import { embeddedVersion } from '../support/global-setup.js'

let server: EmbeddedServer
beforeAll(async () => {
  server = await startEmbeddedServer(embeddedVersion())
  await adminQuery('CREATE TABLE orders (id bigint PRIMARY KEY)', [], server.url)
})
afterAll(async () => {
  await server?.destroy()
})

/**
 * One writer, one transaction at a time (so ids commit in order and a cursor is safe): inserts the next id and
 * NOTIFYs it, every `everyMs`, reconnecting whenever its connection is lost, until `stop()`.
 */
function writer(url: string, everyMs: number) {
  let running = true
  let next = 1
  const done = (async () => {
    while (running) {
      const client = new pg.Client({ connectionString: url })
      client.on('error', () => undefined)
      try {
        await client.connect()
        while (running) {
          await client.query('BEGIN')
          await client.query('INSERT INTO orders (id) VALUES ($1)', [next])
          await client.query('SELECT pg_notify($1, $2)', ['orders', String(next)])
          await client.query('COMMIT')
          next += 1
          await new Promise((resolve) => setTimeout(resolve, everyMs))
        }
      } catch {
        // Lost (the server restarts): the row may or may not have committed; the table says which.
        next += 1
        await new Promise((resolve) => setTimeout(resolve, 20))
      } finally {
        await client.end().catch(() => undefined)
      }
    }
  })()
  return {
    stop: async () => {
      running = false
      await done
    },
  }
}

describe('catchUpAfterGaps with a cursor, across a server restart', () => {
  it('ends with every committed row: live values held from the loss never overtake the catch-up', async () => {
    const db = createPgListener(server.url, { reconnect: { initialDelay: 20, maxDelay: 100 } })
    const pool = new pg.Pool({ connectionString: server.url, max: 2 })
    pool.on('error', () => undefined)
    const seen = new Set<number>()
    let lastSeen = 0
    db.channel('orders')
      .pipe(
        map((notification) => Number(notification.payload)),
        catchUpAfterGaps(db.state$, () =>
          from(pool.query<{ id: string }>('SELECT id FROM orders WHERE id > $1 ORDER BY id', [lastSeen])).pipe(
            mergeMap((result) => result.rows.map((row) => Number(row.id))),
          ),
        ),
      )
      .subscribe((id) => {
        seen.add(id)
        lastSeen = Math.max(lastSeen, id)
      })
    await firstValueFrom(db.listening('orders').pipe(filter(Boolean)))
    const writes = writer(server.url, 3)
    try {
      await eventually(() => seen.size >= 200, () => `only ${seen.size} received before the restart`)
      await server.stop()
      await server.start()
      await eventually(() => seen.size >= 600, () => `only ${seen.size} received after the restart`)
    } finally {
      await writes.stop()
    }
    const committed = (await adminQuery<{ id: string }>('SELECT id FROM orders ORDER BY id', [], server.url)).map((row) => Number(row.id))
    const missing = () => committed.filter((id) => !seen.has(id))
    await eventually(() => missing().length === 0, () => `${missing().length} committed rows never reached the reader: ${missing().slice(0, 20).join(', ')}`)
    expect(committed.length).toBeGreaterThanOrEqual(600)
    console.log(`[measure] catch-up across a restart: ${committed.length} rows committed, all received`)
    await db.close()
    await pool.end()
  })
})
