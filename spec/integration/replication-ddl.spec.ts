/**
 * Schema changes behind a connection, against a real PostgreSQL with wal_level=logical. A change is decoded
 * with the table as it was when it was written, whatever happened to the table since: the stream reads its
 * catalog facts on a connection of their own, never on the WAL sender's (a query there left the WAL sender
 * with today's table definitions, which it then used for older changes: wrong values, or a server crash at
 * every START_REPLICATION).
 */
import { describe, expect, it } from 'vitest'
import { ChangeDecodeError, type Change } from '../../lib/replication/index.js'
import { decodeToken } from '../../lib/replication/position.js'
import { eventually } from '../support/database.js'
import { collect, query, replicationFixtures, serverMajor, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

describe('replication: schema changes behind a connection', () => {
  it('decodes changes written before a column was added, renamed, retyped and dropped with the columns they were written with', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, v text, n int)`)
    const names = await setup([table])
    const first = open(names)
    const live = collect(first.changes$)
    await stateOf(first, 'connected')
    await query(url, `INSERT INTO ${table} VALUES (1, 'a', 10)`)
    await eventually(() => live.values.length === 1, () => `got ${live.values.length}`)
    const stored = (live.values[0] as Change).position
    await first.close()

    // While no stream runs, as during a deploy: writes interleaved with migrations.
    await query(url, `INSERT INTO ${table} VALUES (2, 'b', 20)`)
    await query(url, `ALTER TABLE ${table} ADD COLUMN a int DEFAULT 5`)
    await query(url, `INSERT INTO ${table} (id, v, n) VALUES (3, 'c', 30)`)
    await query(url, `ALTER TABLE ${table} RENAME COLUMN v TO w`)
    await query(url, `INSERT INTO ${table} (id, w, n) VALUES (4, 'd', 40)`)
    await query(url, `ALTER TABLE ${table} ALTER COLUMN n TYPE text USING 'n' || n`)
    await query(url, `INSERT INTO ${table} (id, w, n) VALUES (5, 'e', 'fifty')`)
    await query(url, `ALTER TABLE ${table} DROP COLUMN a`)
    await query(url, `INSERT INTO ${table} (id, w, n) VALUES (6, 'f', 'sixty')`)

    const resumed = open(names, { resumeAfter: stored })
    const got = collect(resumed.changes$)
    await eventually(() => got.values.length >= 5 || got.errors.length > 0, () => `got ${got.values.length}`, 20_000)
    expect(got.errors).toEqual([])
    expect(got.values.map((change) => change.new)).toEqual([
      { id: 2, v: 'b', n: 20 },
      { id: 3, v: 'c', n: 30, a: 5 },
      { id: 4, w: 'd', n: 40, a: 5 },
      { id: 5, w: 'e', n: 'fifty', a: 5 },
      { id: 6, w: 'f', n: 'sixty' },
    ])
    expect(resumed.metrics.snapshot().reconnects).toBe(0)
  })

  it('delivers a transaction that creates a domain and writes rows of it after one reconnect, and goes on', async () => {
    const table = uniqueName('t')
    const domain = uniqueName('positive')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, v text)`)
    const names = await setup([table])
    const stream = open(names)
    const got = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(
      url,
      `BEGIN; INSERT INTO ${table} VALUES (1, 'a'), (2, 'b'); CREATE DOMAIN ${domain} AS int CHECK (VALUE > 0); ALTER TABLE ${table} ADD COLUMN d ${domain}; INSERT INTO ${table} VALUES (3, 'c', 7); COMMIT`,
    )
    await query(url, `INSERT INTO ${table} VALUES (4, 'd', 1)`)
    await eventually(() => got.values.length >= 4 || got.errors.length > 0, () => `got ${got.values.length}, metrics ${JSON.stringify(stream.metrics.snapshot())}`, 20_000)
    expect(got.errors).toEqual([])
    expect(got.values.map((change) => change.new)).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
      { id: 3, v: 'c', d: 7 },
      { id: 4, v: 'd', d: 1 },
    ])
    expect(stream.metrics.snapshot().reconnects).toBe(1)
  })

  // A change read again after its column's type was dropped (the column retyped, then the domain dropped): the
  // server sends the value's text, and nothing left in the catalog says how to read it. A boolean domain's
  // false came back as the string 'f', which is truthy (a new user's trial). It is refused, never guessed.
  it('refuses a change whose column type was dropped since it was written (ChangeDecodeError, or onInvalid), and goes on after it', async () => {
    const table = uniqueName('t')
    const domain = uniqueName('yesno')
    await query(url, `CREATE DOMAIN ${domain} AS boolean`)
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, ok ${domain})`)
    const names = await setup([table])
    await query(url, `INSERT INTO ${table} VALUES (1, false)`)
    await query(url, `ALTER TABLE ${table} ALTER COLUMN ok TYPE boolean`)
    await query(url, `DROP DOMAIN ${domain}`)
    await query(url, `INSERT INTO ${table} VALUES (2, true)`)

    const stopped = open(names)
    const failed = collect(stopped.changes$)
    await eventually(() => failed.errors.length > 0 || failed.values.length > 0, () => 'nothing', 20_000)
    expect(failed.values).toEqual([])
    const error = failed.errors[0] as ChangeDecodeError
    expect(error).toBeInstanceOf(ChangeDecodeError)
    expect(error.info).toMatchObject({ schema: 'public', table, op: 'insert' })
    expect(error.message).toMatch(/column "ok".*no longer exists/)
    await stopped.close()

    const refused: ChangeDecodeError[] = []
    const skipping = open(names, { onInvalid: (invalid) => refused.push(invalid) })
    const got = collect(skipping.changes$)
    await eventually(() => got.values.length >= 1 || got.errors.length > 0, () => 'nothing', 20_000)
    expect(got.errors).toEqual([])
    // The same change (commit LSN and index). Passed to onInvalid it is the last of its transaction the stream
    // passes, so its token resumes after the transaction; the stream that failed at it could not know that.
    const place = (token: string) => {
      const { lsn, index } = decodeToken(token).position
      return { lsn, index }
    }
    expect(refused.map((invalid) => place(invalid.info.position))).toEqual([place(error.info.position)])
    expect(got.values.map((change) => change.new)).toEqual([{ id: 2, ok: true }])
  })
})

/**
 * What PostgreSQL publishes, and so what a stream gets, when tables are dropped, recreated, repartitioned or
 * inherited under it (a new user's trial; docs/replication.md says each). Changes committed in order: once a
 * later change has arrived, an earlier one that did not never will.
 */
describe('replication: tables dropped, recreated, partitioned and inherited under a live stream', () => {
  const ids = (values: readonly Change[]) => values.map((change) => [change.op, change.table, change.new?.id ?? change.old?.id])

  it('delivers no DROP, nothing of the table created again until it is added to the publication again, and never its rows written before that, even from a restart', async () => {
    const table = uniqueName('tk')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    const live = open(names, { tables: [table] })
    const got = collect(live.changes$)
    await stateOf(live, 'connected')
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await eventually(() => got.values.length === 1, () => 'the first insert')
    await query(url, `DROP TABLE ${table}`)
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    await query(url, `INSERT INTO ${table} VALUES (2)`)
    // A publication FOR TABLE loses a dropped table: the new one is not in it.
    expect(await query(url, `SELECT 1 FROM pg_publication_tables WHERE pubname = $1`, [names.publication])).toEqual([])
    await query(url, `ALTER PUBLICATION "${names.publication}" ADD TABLE ${table}`)
    await query(url, `INSERT INTO ${table} VALUES (3)`)
    await eventually(() => got.values.length >= 2, () => 'the insert after ADD TABLE')
    expect(ids(got.values)).toEqual([
      ['insert', table, 1],
      ['insert', table, 3],
    ])
    const afterFirst = (got.values[0] as Change).position
    await live.close()

    // Read again from just after the first insert: the row written before ADD TABLE is not in the slot's WAL
    // as a change of a published table.
    const again = open(names, { tables: [table], resumeAfter: afterFirst })
    const replayed = collect(again.changes$)
    await query(url, `INSERT INTO ${table} VALUES (4)`)
    await eventually(() => replayed.values.length >= 2 || replayed.errors.length > 0, () => `got ${replayed.values.length}`)
    expect(replayed.errors).toEqual([])
    expect(ids(replayed.values)).toEqual([
      ['insert', table, 3],
      ['insert', table, 4],
    ])
  })

  it('delivers an UPDATE that moves a row to another partition as a delete then an insert, in one transaction', async (context) => {
    if ((await serverMajor(url)) < 13) {
      context.skip('PostgreSQL 12 cannot publish a partitioned table')
      return
    }
    const table = uniqueName('meas')
    await query(url, `CREATE TABLE ${table} (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`)
    await query(url, `CREATE TABLE ${table}_a PARTITION OF ${table} FOR VALUES IN ('a'); CREATE TABLE ${table}_b PARTITION OF ${table} FOR VALUES IN ('b')`)
    const names = await setup([table])
    const stream = open(names, { tables: [table] })
    const got = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${table} VALUES (1, 'a', 'x')`)
    await query(url, `UPDATE ${table} SET v = 'y' WHERE id = 1`)
    await query(url, `UPDATE ${table} SET region = 'b' WHERE id = 1`)
    await eventually(() => got.values.length >= 4, () => `got ${got.values.length}`)
    expect(got.values.map((change) => [change.op, change.table, change.new ?? change.old])).toEqual([
      ['insert', table, { id: 1, region: 'a', v: 'x' }],
      ['update', table, { id: 1, region: 'a', v: 'y' }],
      ['delete', table, { id: 1, region: 'a' }],
      ['insert', table, { id: 1, region: 'b', v: 'y' }],
    ])
    const [, , moved, placed] = got.values as [Change, Change, Change, Change]
    expect(moved.xid).toBe(placed.xid)
    expect([moved.lastInTransaction, placed.lastInTransaction]).toEqual([false, true])
  })

  it('sends nothing for the rows a table holds when it is attached as a partition; its later changes come under the partitioned table', async (context) => {
    if ((await serverMajor(url)) < 13) {
      context.skip('PostgreSQL 12 cannot publish a partitioned table')
      return
    }
    const table = uniqueName('ev')
    await query(url, `CREATE TABLE ${table} (id int, y int, PRIMARY KEY (id, y)) PARTITION BY LIST (y)`)
    await query(url, `CREATE TABLE ${table}_2025 PARTITION OF ${table} FOR VALUES IN (2025)`)
    await query(url, `CREATE TABLE ${table}_2026 (id int, y int, PRIMARY KEY (id, y)); INSERT INTO ${table}_2026 VALUES (1, 2026), (2, 2026)`)
    const names = await setup([table])
    const stream = open(names, { tables: [table] })
    const got = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `ALTER TABLE ${table} ATTACH PARTITION ${table}_2026 FOR VALUES IN (2026)`)
    await query(url, `INSERT INTO ${table} VALUES (3, 2026)`)
    await eventually(() => got.values.length >= 1, () => 'the insert after ATTACH')
    await query(url, `DELETE FROM ${table} WHERE id = 1`)
    await eventually(() => got.values.length >= 2, () => 'the delete')
    expect(ids(got.values)).toEqual([
      ['insert', table, 3],
      ['delete', table, 1],
    ])
  })

  it("filters out an inheriting table's changes with tables: ['parent'] (they come under the child's name), and delivers them with the child listed", async () => {
    const parent = uniqueName('ih')
    await query(url, `CREATE TABLE ${parent} (id int PRIMARY KEY, a text); CREATE TABLE ${parent}_child (PRIMARY KEY (id)) INHERITS (${parent})`)
    const names = await setup([parent])
    // FOR TABLE parent publishes its children too (no ONLY).
    expect((await query<{ tablename: string }>(url, `SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`, [names.publication])).map((row) => row.tablename)).toEqual([
      parent,
      `${parent}_child`,
    ])
    const parentOnly = open(names, { tables: [parent] })
    const fromParent = collect(parentOnly.changes$)
    await stateOf(parentOnly, 'connected')
    await query(url, `INSERT INTO ${parent}_child VALUES (2, 'child'); INSERT INTO ${parent} VALUES (1, 'parent')`)
    await query(url, `UPDATE ${parent} SET a = a || '!'`)
    await eventually(() => fromParent.values.length >= 2, () => `got ${fromParent.values.length}`)
    expect(ids(fromParent.values)).toEqual([
      ['insert', parent, 1],
      ['update', parent, 1],
    ])
    const first = (fromParent.values[0] as Change).position
    await parentOnly.close()

    const both = open(names, { tables: [parent, `${parent}_child`], resumeAfter: first })
    const fromBoth = collect(both.changes$)
    await eventually(() => fromBoth.values.length >= 2, () => `got ${fromBoth.values.length}`)
    expect(ids(fromBoth.values).sort()).toEqual(
      [
        ['update', parent, 1],
        ['update', `${parent}_child`, 2],
      ].sort(),
    )
  })
})
