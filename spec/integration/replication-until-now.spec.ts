/**
 * `until: 'now'` against a real PostgreSQL with wal_level=logical: a batch job reads what waits and its stream
 * completes, also while a writer goes on committing (a stream that waited for quiet would never end); the next
 * run, resumed after the last position, reads on without a gap or a repeat; with nothing waiting it completes at
 * once.
 */
import { lastValueFrom, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { isCheckpoint, type Change } from '../../lib/replication/index.js'
import { eventually } from '../support/database.js'
import { query, replicationFixtures, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

const idsOf = (items: ReadonlyArray<unknown>) => items.filter((item) => !isCheckpoint(item)).map((item) => Number((item as Change).new?.id))
const lastPosition = (items: ReadonlyArray<unknown>) => (items.at(-1) as { position: string } | undefined)?.position

/** A watched table and one the stream does not watch; the slot's publication has the first. */
async function tables() {
  const table = uniqueName('t')
  const other = uniqueName('o')
  await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY); CREATE TABLE ${other} (id int)`)
  return { table, other, names: await setup([table]) }
}

describe('replication: until now', () => {
  it('reads what waits and completes while a writer goes on; the next run reads on from its last position', async () => {
    const { table, other, names } = await tables()
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await query(url, `INSERT INTO ${table} SELECT g FROM generate_series(2, 5) AS g`)
    // WAL the stream does not watch, after the last change it does.
    await query(url, `INSERT INTO ${other} SELECT g FROM generate_series(1, 1000) AS g`)

    // A writer that commits one row every few ms for as long as the runs take.
    let writing = true
    let next = 100
    const writer = (async () => {
      while (writing) {
        await query(url, `INSERT INTO ${table} VALUES ($1)`, [next])
        next += 1
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })()
    // The writer has committed a row: the first run's end is after it.
    await eventually(() => next > 100, () => 'the writer committed nothing')
    const first = await lastValueFrom(open(names, { until: 'now' }).changes$.pipe(toArray()))
    const firstIds = idsOf(first)
    // Everything committed before the run started, then a prefix of what the writer committed: in order, no gap.
    expect(firstIds.slice(0, 5)).toEqual([1, 2, 3, 4, 5])
    expect(firstIds.slice(5)).toEqual(firstIds.slice(5).map((_, index) => 100 + index))
    expect(firstIds.length).toBeGreaterThan(5)

    // And another since: the second run has something to read.
    const committedBefore = next
    await eventually(() => next > committedBefore, () => 'the writer committed nothing more')
    const second = await lastValueFrom(open(names, { until: 'now', resumeAfter: lastPosition(first) }).changes$.pipe(toArray()))
    writing = false
    await writer
    const secondIds = idsOf(second)
    expect(secondIds[0]).toBe((firstIds.at(-1) as number) + 1)
    expect(secondIds).toEqual(secondIds.map((_, index) => (secondIds[0] as number) + index))

    // The writer has stopped: a third run reads the rest, and a fourth finds nothing and completes at once.
    const third = await lastValueFrom(open(names, { until: 'now', resumeAfter: lastPosition(second) }).changes$.pipe(toArray()))
    expect([...firstIds, ...secondIds, ...idsOf(third)]).toEqual([1, 2, 3, 4, 5, ...Array.from({ length: next - 100 }, (_, index) => 100 + index)])
    const fourth = await lastValueFrom(open(names, { until: 'now', resumeAfter: lastPosition(third) ?? lastPosition(second) }).changes$.pipe(toArray()))
    expect(idsOf(fourth)).toEqual([])
  })

  it('ends with a checkpoint past WAL it does not watch, which moves the slot when acknowledged', async () => {
    const { table, other, names } = await tables()
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await query(url, `INSERT INTO ${other} SELECT g FROM generate_series(1, 1000) AS g`)
    const stream = open(names, { until: 'now', checkpoints: true })
    const items = await lastValueFrom(stream.changes$.pipe(toArray()))
    expect(idsOf(items)).toEqual([1])
    const end = items.at(-1)
    expect(isCheckpoint(end)).toBe(true)
    stream.ack((end as { position: string }).position)
    await stream.close()
    const [slot] = await query<{ confirmed: string }>(url, `SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1`, [names.slot])
    expect(slot?.confirmed).toBe((end as { lsn: string }).lsn)
  })
})
