// A crash of the server (every process killed, WAL buffers lost) must not make a durable position skip what is
// written after the restart. Transaction ids of transactions that wrote nothing durable (a NOTIFY-only
// transaction takes one, and its commit is not flushed) are handed out again after crash recovery; a token or
// a reader's cursor that stood past them would then sit ahead of new rows. Its own embedded server, which it
// crashes; the WAL writer is slowed so that such commits are surely still in its buffers at the crash.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { AppendFailedError } from '../../lib/durable/index.js'
import { embeddedVersion } from '../support/global-setup.js'
import { eventually } from '../support/database.js'
import { durableFixture, fetchAll, type DurableFixture } from '../support/durable.js'
import { collect } from '../support/listener.js'

let server: EmbeddedServer
let fixture: DurableFixture

beforeAll(async () => {
  server = await startEmbeddedServer({ ...embeddedVersion(), settings: { wal_writer_delay: '10000ms', wal_writer_flush_after: '1GB' } })
  fixture = await durableFixture('durable_crash', { pollInterval: 100 }, server.url)
})
afterAll(async () => {
  await fixture?.close()
  await server?.destroy()
})

/** Commits `count` transactions that take a transaction id and write no WAL of their own (NOTIFY only). */
async function idsWithoutWal(count: number): Promise<void> {
  const client = new pg.Client(server.url)
  await client.connect()
  try {
    for (let i = 0; i < count; i++) await client.query("SELECT pg_notify('durable_crash_noise', '')")
  } finally {
    await client.end()
  }
}

async function appendAfterRestart(channel: string, n: number): Promise<void> {
  for (;;) {
    try {
      await fixture.log.append(channel, { n })
      return
    } catch (error) {
      if (!(error instanceof AppendFailedError) || error.info.outcome !== 'not-sent') throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

describe('a server crash', () => {
  it('leaves no token and no reader ahead of what is written after the restart', async () => {
    await fixture.log.append('crash', { n: 0 })
    const reader = collect(fixture.log.read('crash', { from: 'earliest' }))
    await eventually(() => reader.values.length === 1, () => `reader has ${reader.values.length}`)

    await idsWithoutWal(300)
    // The reader reads again (it polls every 100 ms), and a client stores a token, after those ids.
    await new Promise((resolve) => setTimeout(resolve, 400))
    const { next: stored } = await fixture.log.fetch('crash', { after: 'earliest' })
    const { next: fromNow } = await fixture.log.fetch('crash', { after: 'now' })
    await server.crash()
    await server.start()

    const admin = new pg.Client(server.url)
    await admin.connect()
    try {
      for (let n = 1; n <= 3; n++) await appendAfterRestart('crash', n)
      // Ordinary traffic takes the counter past where the lost ids ended.
      await admin.query('SELECT txid_current() FROM generate_series(1, 1)')
      for (let i = 0; i < 400; i++) await admin.query('SELECT txid_current()')
    } finally {
      await admin.end()
    }
    expect((await fixture.log.fetch('crash', { after: stored })).messages.map((m) => m.value)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect((await fixture.log.fetch('crash', { after: fromNow })).messages.map((m) => m.value)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    await eventually(() => reader.values.length >= 4, () => `reader has ${JSON.stringify(reader.values.map((m) => m.value))}`, 30_000)
    expect(reader.values.map((m) => m.value)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }])
    expect(reader.errors).toEqual([])
    expect((await fetchAll(fixture.log, 'crash', 'earliest', server.url)).length).toBe(4)
    reader.stop()
  })
})
