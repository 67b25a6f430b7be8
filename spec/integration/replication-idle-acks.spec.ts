/**
 * Acknowledgements made while no session is open, against a real PostgreSQL with wal_level=logical: a batch
 * job takes the next changes (`take` unsubscribes the last subscriber, so the stream goes idle and its
 * connection ends), acknowledges them, then closes (a new user's trial: every run received the first run's
 * changes again, and the slot never moved). close() must report them to the slot, or say that it could not.
 */
import { firstValueFrom, take, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { changeStream, type Change } from '../../lib/replication/index.js'
import { eventually } from '../support/database.js'
import { collect, query, replicationFixtures, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

const lsnValue = (text: string) => {
  const [high, low] = text.split('/') as [string, string]
  return (BigInt('0x' + high) << 32n) | BigInt('0x' + low)
}

async function confirmedFlush(slot: string): Promise<string> {
  const rows = await query<{ lsn: string }>(url, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot])
  return (rows[0] as { lsn: string }).lsn
}

describe('replication: acknowledgements made while idle', () => {
  it('reach the slot at close(): the next run does not receive those changes again, and confirmed_flush_lsn moves past them', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    for (const run of [1, 2, 3]) {
      // The trial's batch job, run three times.
      const stream = open(names, { tables: [table] })
      const next2 = firstValueFrom(stream.changes$.pipe(take(2), toArray()))
      await query(url, `INSERT INTO ${table} VALUES ($1), ($2)`, [run * 10, run * 10 + 1])
      const batch = (await next2) as Change[]
      expect(batch.map((change) => change.new?.['id']), `run ${run}`).toEqual([run * 10, run * 10 + 1])
      for (const change of batch) stream.ack(change.position)
      const before = stream.metrics.snapshot()
      const slotBefore = await confirmedFlush(names.slot)

      await stream.close()
      const slotAfter = await confirmedFlush(names.slot)
      // Past the transaction's commit record: the acknowledged position is its end.
      expect(lsnValue(slotAfter), `run ${run}: slot at ${slotAfter}`).toBeGreaterThan(lsnValue((batch[1] as Change).commitLsn))
      // Before close(): acknowledged here, not yet on the slot, and metrics tell the two apart.
      expect(before).toMatchObject({ acknowledged: 2, unacknowledged: 0, confirmedLsn: slotBefore, acknowledgedLsn: slotAfter })
      expect(lsnValue(before.acknowledgedLsn)).toBeGreaterThan(lsnValue(before.confirmedLsn))
      expect(stream.metrics.snapshot()).toMatchObject({ acknowledgedLsn: slotAfter, confirmedLsn: slotAfter })
    }
  })

  it('reach the slot statusInterval after the acknowledgement while the stream stays idle, without close()', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    const stream = open(names, { tables: [table], statusInterval: 200 })
    const next2 = firstValueFrom(stream.changes$.pipe(take(2), toArray()))
    await query(url, `INSERT INTO ${table} VALUES (1), (2)`)
    const batch = (await next2) as Change[]
    for (const change of batch) stream.ack(change.position)
    const acknowledged = stream.metrics.snapshot().acknowledgedLsn
    await eventually(async () => (await confirmedFlush(names.slot)) === acknowledged, () => `slot at ${JSON.stringify(stream.metrics.snapshot())}`, 5000)
    expect(stream.metrics.snapshot().confirmedLsn).toBe(acknowledged)
  })

  it('when another process holds the slot, close() gives up after connectTimeout with AcknowledgementsNotReportedError, whose position resumes after them', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    // Not one of the fixtures' streams, which are closed again after each test: every close() of this one rejects.
    const stream = changeStream(url, { ...names, tables: [table], checkpoints: false, connectTimeout: 1500, statusInterval: 60_000 })
    const closed = () => stream.close()
    const next2 = firstValueFrom(stream.changes$.pipe(take(2), toArray()))
    await query(url, `INSERT INTO ${table} VALUES (1), (2)`)
    const batch = (await next2) as Change[]
    for (const change of batch) stream.ack(change.position)

    // Another consumer takes the slot (and acknowledges nothing).
    const other = open(names, { tables: [table] })
    const otherGot = collect(other.changes$)
    await stateOf(other, 'connected')
    const slotBefore = await confirmedFlush(names.slot)

    // When it gives up (connectTimeout) is drawn in virtual time (marbles/replication-idle-acks.spec.ts); here,
    // that it does, with what it says.
    const error = await closed().then(
      () => undefined,
      (failure: unknown) => failure,
    )
    // Every call gets the same outcome.
    await expect(closed()).rejects.toBe(error)
    expect(error).toMatchObject({
      name: 'AcknowledgementsNotReportedError',
      code: 'REPLICATION_ACKS_NOT_REPORTED',
      info: { slot: names.slot, acknowledgedLsn: stream.metrics.snapshot().acknowledgedLsn, confirmedLsn: slotBefore, position: (batch[1] as Change).position },
      cause: { name: 'SlotInUseError' },
    })
    expect(await confirmedFlush(names.slot)).toBe(slotBefore)
    await other.close()
    expect(otherGot.values.map((change) => change.new?.['id'])).toEqual([1, 2])

    // The error's position resumes exactly after what was acknowledged.
    const resumed = open(names, { tables: [table], resumeAfter: (error as { info: { position: string } }).info.position })
    const got = collect(resumed.changes$)
    await stateOf(resumed, 'connected')
    await query(url, `INSERT INTO ${table} VALUES (3)`)
    await eventually(() => got.values.length >= 1, () => 'nothing after the acknowledged position')
    expect(got.values.map((change) => change.new?.['id'])).toEqual([3])
  })
})
