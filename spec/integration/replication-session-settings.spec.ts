/**
 * The WAL sender writes a change's values with its session's output settings, and pg's type parsers read only
 * PostgreSQL's defaults: under `DateStyle = 'SQL, DMY'` a timestamptz came as null, under
 * `IntervalStyle = 'postgres_verbose'` an interval as an empty PostgresInterval, and under
 * `extra_float_digits = 0` a double lost its last digits, with no error (a new user's trial, on a database
 * configured by someone else). The stream sets its own replication session's output settings, whatever the
 * server, the role, the database or the connection string say.
 */
import { lastValueFrom, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { changeStream, isCheckpoint, type Change } from '../../lib/replication/index.js'
import { query, replicationFixtures, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup } = replicationFixtures(() => url)

describe('replication: the session settings of whoever configured the database', () => {
  it('reads timestamps, dates, intervals and doubles exactly under another DateStyle, IntervalStyle and extra_float_digits', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, at timestamptz, day date, took interval, ratio float8, raw bytea)`)
    const names = await setup([table])
    await query(url, `INSERT INTO ${table} VALUES (1, '2026-11-29 16:04:56.123456+00', '2026-03-08', '1 day 02:00:03', 0.30000000000000004, '\\x00ff')`)
    const configured = new URL(url)
    configured.searchParams.set('options', "-c DateStyle=SQL,DMY -c IntervalStyle=postgres_verbose -c extra_float_digits=0 -c bytea_output=escape -c TimeZone=Asia/Kolkata")
    const stream = changeStream(configured.toString(), { ...names, checkpoints: false, until: 'now' })
    try {
      const items = await lastValueFrom(stream.changes$.pipe(toArray()))
      const row = (items.filter((item) => !isCheckpoint(item))[0] as Change).new as Record<string, unknown>
      expect(row.at).toEqual(new Date('2026-11-29T16:04:56.123Z'))
      expect(row.day).toEqual(new Date(2026, 2, 8))
      expect(row.took).toMatchObject({ days: 1, hours: 2, seconds: 3 })
      expect(row.ratio).toBe(0.30000000000000004)
      expect(row.raw).toEqual(Buffer.from([0x00, 0xff]))
    } finally {
      await stream.close()
    }
  })
})
