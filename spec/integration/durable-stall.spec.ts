// The stall signal: a transaction holding an xid holds every reader's horizon back; rxpg names it (pid, xid)
// after the threshold instead of waiting silently, and says when it cleared.
import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'
import { createDurableLog } from '../../lib/durable/index.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { DurableStall } from '../../lib/durable/index.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { collect } from '../support/listener.js'
import { adminQuery, eventually } from '../support/database.js'

let fixture: DurableFixture

beforeAll(async () => {
  fixture = await durableFixture('durable_stall', { stall: { threshold: 300, interval: 50 } })
})
afterAll(async () => {
  await fixture.close()
})

async function holdAnXid(): Promise<{ client: pg.Client; pid: number; xid: string }> {
  const client = new pg.Client({ connectionString: fixture.url, application_name: 'long-writer' })
  await client.connect()
  await client.query('BEGIN')
  const [row] = (await client.query<{ pid: number; xid: string }>('SELECT pg_backend_pid() AS pid, txid_current()::text AS xid')).rows
  return { client, pid: row!.pid, xid: row!.xid }
}

describe('stalls$', () => {
  it('completes on close(), so that a subscription to it keeps no timer running and the process can exit', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => void warnings.push(warning.message)
    process.on('warning', onWarning)
    try {
      const log = fixture.openLog()
      const events = collect(log.stalls$)
      const reader = collect(log.read('closing', { from: 'now' }))
      await log.close()
      expect(events.completed).toBe(true)
      expect(reader.completed).toBe(true)
      const late = collect(log.stalls$)
      expect(late.completed).toBe(true)
      // Closed while its first read was opening it: its first maintenance is not run, nor reported as failed.
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(warnings.filter((message) => /durable log is closed/i.test(message))).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('names the backend holding the horizon back, then reports when it cleared; readers get the rows after it ends', async () => {
    const { log } = fixture
    const events = collect(log.stalls$)
    const reader = collect(log.read('stalled', { from: 'now' }))
    const holder = await holdAnXid()
    await log.append('stalled', 'behind the long transaction')
    const stalled = await firstValueFrom(log.stalls$.pipe(filter((event): event is Extract<DurableStall, { kind: 'stalled' }> => event.kind === 'stalled' && event.xid === holder.xid)))
    expect(stalled.holder).toMatchObject({ pid: holder.pid, preparedGid: null, applicationName: 'long-writer', state: expect.stringContaining('idle in transaction') })
    expect(reader.values).toEqual([])
    await holder.client.query('COMMIT')
    await holder.client.end()
    await eventually(() => events.values.some((event) => event.kind === 'cleared' && event.xid === holder.xid), () => JSON.stringify(events.values))
    await eventually(() => reader.values.length === 1, () => 'the reader did not get the row after the stall')
    events.stop()
    reader.stop()
  })

  // A second long transaction, started while the first held the horizon, holds every reader back when the first
  // ends: it was reported a whole threshold later, and the readers looked free in between (an operator's trial).
  it('reports a long transaction that takes the horizon over in the sample that clears the first one', async () => {
    const { log } = fixture
    const events = collect(log.stalls$)
    const reader = collect(log.read('handed-over', { from: 'now' }))
    const first = await holdAnXid()
    await eventually(() => events.values.some((event) => event.kind === 'stalled' && event.xid === first.xid), () => JSON.stringify(events.values))
    const second = await holdAnXid()
    await log.append('handed-over', 'behind both')
    // The second has run past the threshold (300 ms) when the first ends: a condition polled, not a time measured.
    await eventually(
      async () => (await adminQuery<{ old: boolean }>(`SELECT now() - xact_start > interval '600 ms' AS old FROM pg_stat_activity WHERE pid = $1`, [second.pid], fixture.url))[0]?.old === true,
      () => 'the second transaction has not run 600 ms',
    )
    await first.client.query('COMMIT')
    await first.client.end()
    await eventually(() => events.values.some((event) => event.kind === 'stalled' && event.xid === second.xid), () => JSON.stringify(events.values))
    const at = (event: DurableStall | undefined) => (event === undefined ? undefined : event.since + event.heldFor)
    const cleared = events.values.find((event) => event.kind === 'cleared' && event.xid === first.xid)
    const handedOver = events.values.find((event) => event.kind === 'stalled' && event.xid === second.xid)
    expect(at(handedOver)).toBe(at(cleared))
    expect(handedOver?.since).toBeLessThan(at(cleared) ?? 0)
    expect(reader.values).toEqual([])
    await second.client.query('COMMIT')
    await second.client.end()
    await eventually(() => events.values.some((event) => event.kind === 'cleared' && event.xid === second.xid), () => JSON.stringify(events.values))
    await eventually(() => reader.values.length === 1, () => 'the reader did not get the row after both ended')
    events.stop()
    reader.stop()
  })

  // holder.since was null under any DateStyle but ISO, even for a superuser: xact_start came back as a timestamptz
  // in the session's DateStyle, which pg's type parser cannot read (a new user's trial, 'SQL, DMY').
  it.each(['ISO, MDY', 'SQL, DMY', 'German, DMY', 'Postgres, DMY'])("names when the holder's transaction started whatever the session's DateStyle (%s)", async (dateStyle) => {
    const pool = new pg.Pool({ connectionString: fixture.url, options: `-c DateStyle=${dateStyle.replace(' ', '')}` })
    pool.on('error', () => undefined)
    const log = createDurableLog({ listener: fixture.listener, pool, schema: fixture.schema, stall: { threshold: 300, interval: 50 } })
    const holder = await holdAnXid()
    try {
      expect((await pool.query<{ DateStyle: string }>('SHOW DateStyle')).rows[0]?.DateStyle).toBe(dateStyle)
      const stalled = await firstValueFrom(log.stalls$.pipe(filter((event): event is Extract<DurableStall, { kind: 'stalled' }> => event.kind === 'stalled' && event.xid === holder.xid)))
      const [started] = await adminQuery<{ ms: number }>(`SELECT date_part('epoch', xact_start) * 1000 AS ms FROM pg_stat_activity WHERE pid = $1`, [holder.pid], fixture.url)
      expect(stalled.holder?.pid).toBe(holder.pid)
      expect(stalled.holder?.since).toBeInstanceOf(Date)
      // To the millisecond (a Date holds no finer).
      expect(Math.abs((stalled.holder?.since?.getTime() ?? 0) - started!.ms)).toBeLessThan(1)
    } finally {
      await holder.client.query('COMMIT')
      await holder.client.end()
      await log.close()
      await pool.end()
    }
  })

  it('warns through the process when a reader waits on a stall and nobody subscribed to stalls$', async () => {
    // Caught where it is emitted, so that the run's log stays clean.
    const warnings: string[] = []
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation((warning) => void warnings.push(typeof warning === 'string' ? warning : warning.message))
    const reader = collect(fixture.log.read('warned', { from: 'now' }))
    const holder = await holdAnXid()
    try {
      await eventually(() => warnings.some((warning) => warning.includes(`transaction ${holder.xid}`) && warning.includes(`pid ${holder.pid}`)), () => `warnings: ${warnings.join('; ')}`)
      // It says how to end it, not only what it is (a new user's on-call trial had to look that up).
      expect(warnings.find((warning) => warning.includes(`transaction ${holder.xid}`))).toContain(`SELECT pg_terminate_backend(${holder.pid})`)
    } finally {
      emitWarning.mockRestore()
      await holder.client.query('COMMIT')
      await holder.client.end()
      reader.stop()
    }
  })
})
