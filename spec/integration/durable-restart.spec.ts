// A restart of the server mid-stream: a live reader and a consumer group go on after it, from where they were,
// without losing or repeating a message (their own embedded server, since the spec stops it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'
import { ConnectionRejectedError, createPgListener } from '../../lib/index.js'
import { AppendFailedError, createDurableLog, type DurableConsumer } from '../../lib/durable/index.js'
import { embeddedVersion } from '../support/global-setup.js'
import { adminQuery, eventually } from '../support/database.js'
import { durableFixture, fetchAll, type DurableFixture } from '../support/durable.js'
import { createLedger, type Ledger } from '../../support/durable/ledger.js'
import { collect } from '../support/listener.js'

let server: EmbeddedServer
let fixture: DurableFixture
let ledger: Ledger

beforeAll(async () => {
  server = await startEmbeddedServer(embeddedVersion())
  fixture = await durableFixture('durable_restart', { pollInterval: 200 }, server.url)
  ledger = await createLedger(fixture.schema, server.url)
})
afterAll(async () => {
  await fixture?.close()
  await server?.destroy()
})

/** Appends `value`, retrying while the server is away; an append whose outcome is unknown is checked, never blindly resent. */
async function appendThroughOutage(value: number): Promise<void> {
  for (;;) {
    try {
      await fixture.log.append('restart', { seq: value }, { key: `k${value % 4}` })
      return
    } catch (error) {
      if (!(error instanceof AppendFailedError)) throw error
      if (error.info.outcome === 'unknown' && (await fetchAll(fixture.log, 'restart', 'earliest', server.url).catch(() => [])).some((m) => (m.value as { seq: number }).seq === value)) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

describe('a server restart mid-stream', () => {
  it('loses and repeats nothing for a live reader and a consumer group', async () => {
    const reader = collect(fixture.log.read('restart', { from: 'earliest' }))
    const consumer: DurableConsumer = fixture.log.consume('restart', 'g', (messages, client) => ledger.record(messages, client, 'only'), { leaseTtl: 3000, batchSize: 10 })
    for (let i = 1; i <= 30; i++) await appendThroughOutage(i)
    await eventually(() => reader.values.length === 30, () => `reader has ${reader.values.length}`)

    await server.stop()
    const writing = (async () => {
      for (let i = 31; i <= 60; i++) await appendThroughOutage(i)
    })()
    await new Promise((resolve) => setTimeout(resolve, 500))
    await server.start()
    await writing

    await eventually(() => reader.values.length >= 60, () => `reader has ${reader.values.length}`, 60_000)
    await eventually(async () => (await ledger.count()) >= 60, () => 'the consumer did not catch up', 60_000)
    const seqs = reader.values.map((m) => (m.value as { seq: number }).seq)
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
    expect(reader.errors).toEqual([])
    expect(await ledger.count()).toBe(60)
    expect(await ledger.duplicates()).toEqual([])
    expect(await ledger.outOfOrderKeys()).toEqual([])
    reader.stop()
    await consumer.stop()
  })
})

describe('a server that is down', () => {
  it('fails appends as not sent: nothing can have been written when no connection could be made', async () => {
    const log = fixture.openLog()
    await log.append('down', { n: 0 }) // the log's facts are known: the next append goes straight to the server
    await server.stop()
    try {
      const errors: unknown[] = []
      const subscription = log.errors$.subscribe((error) => errors.push(error))
      log.append$.next({ channel: 'down', value: { n: 2 } })
      const failure = await log.append('down', { n: 1 }).catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(AppendFailedError)
      expect((failure as AppendFailedError).info.outcome).toBe('not-sent')
      await eventually(() => errors.length === 1, () => 'append$ reported nothing')
      expect((errors[0] as AppendFailedError).info.outcome).toBe('not-sent')
      await expect(log.transaction(async () => undefined)).rejects.toMatchObject({ code: 'DURABLE_QUERY_FAILED', info: { operation: 'transaction', systemCode: 'ECONNREFUSED' } })
      subscription.unsubscribe()
    } finally {
      await server.start()
    }
  })
  it('starts a consumer while the server is down: it retries the open, reporting `retrying`, and delivers once the server is up', async () => {
    const log = fixture.openLog() // nothing known yet: the consumer's first statement opens the log
    await fixture.log.append('down-consume', { seq: 1 }, { key: 'k' })
    await server.stop()
    let consumer: DurableConsumer
    try {
      consumer = log.consume('down-consume', 'g', (messages, client) => ledger.record(messages, client, 'started-down'), { leaseTtl: 3000 })
      const retrying = await firstValueFrom(consumer.events$.pipe(filter((event) => event.kind === 'retrying')))
      expect(retrying.kind === 'retrying' && retrying.error).toMatchObject({ code: 'DURABLE_QUERY_FAILED', info: { operation: 'open', systemCode: 'ECONNREFUSED' } })
    } finally {
      await server.start()
    }
    const applied = async () => (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${ledger.table} WHERE member = 'started-down'`, [], server.url))[0]?.n
    await eventually(async () => (await applied()) === 1, () => 'the consumer started while the server was down delivered nothing', 30_000)
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
    expect(await applied()).toBe(1)
  })

  it('fails a consumer for good when it can never connect (a wrong password), with the typed error', async () => {
    const pool = new pg.Pool({ connectionString: server.url.replace(/:\/\/([^:]+):[^@]+@/, '://$1:wrong@') })
    pool.on('error', () => undefined)
    const log = createDurableLog({ listener: fixture.listener, pool, schema: fixture.schema })
    try {
      const consumer = log.consume('wrong-password', 'g', async () => undefined)
      await expect(consumer.done).rejects.toMatchObject({ code: 'DURABLE_QUERY_FAILED', info: { operation: 'open', sqlState: '28P01' } })
    } finally {
      await log.close()
      await pool.end()
    }
  })

})

describe('a listener that fails for good', () => {
  it('fails its readers and consumers with its error (the listener cannot wake them any more)', async () => {
    const refused = createPgListener(server.url.replace(/:\/\/([^:]+):[^@]+@/, '://$1:wrong@'), { reconnect: { initialDelay: 1, maxDelay: 1 } })
    const log = createDurableLog({ listener: refused, pool: fixture.pool, schema: fixture.schema })
    try {
      const read = await firstValueFrom(log.read('refused', { from: 'now' })).catch((error: unknown) => error)
      expect(read).toBeInstanceOf(ConnectionRejectedError)
      const consumer = log.consume('refused', 'g', async () => undefined)
      await expect(consumer.done).rejects.toBeInstanceOf(ConnectionRejectedError)
    } finally {
      await log.close()
      await refused.close()
    }
  })
})
