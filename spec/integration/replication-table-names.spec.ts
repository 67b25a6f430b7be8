/**
 * How a table of `tables` is named, against a real PostgreSQL with wal_level=logical: `schema.table` as spelled,
 * or double-quoted parts as in SQL for a schema or table whose name holds a dot. A new user's trial had two
 * tables, "a.b"."c" and "a"."b.c", whose `schema.table` text is the same: `a.b.c` gave pg's raw 21000 (more than
 * one row returned by a subquery) from ensureReplication, or 42P01 when only "a.b"."c" existed, and a stream read
 * it as "a"."b.c"; "a.b"."c" could not be named at all. And a table renamed (or moved, or dropped) under a
 * stream was reported "not in publication … Add it", though it no longer existed. (What a running stream does
 * with the changes of a table renamed under it: replication-rename.spec.ts.)
 */
import { describe, expect, it } from 'vitest'
import { ReplicationSetupError, changeStream, dropReplication, ensureReplication, replicationSetupSql, type Change } from '../../lib/replication/index.js'
import { eventually } from '../support/database.js'
import { collect, query, replicationFixtures, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

/** What a failing promise or call threw. */
async function thrown(attempt: () => unknown): Promise<unknown> {
  return Promise.resolve()
    .then(attempt)
    .then(
      () => undefined,
      (error: unknown) => error,
    )
}

/** Tables "<a>.b"."c" and "<a>"."b.c" (`both`), or the first alone; returns the schema prefix <a>. */
async function dottedTables(both: boolean): Promise<string> {
  const a = uniqueName('a')
  await query(url, `CREATE SCHEMA "${a}.b"; CREATE TABLE "${a}.b"."c" (id int PRIMARY KEY, v text)`)
  if (both) await query(url, `CREATE SCHEMA "${a}"; CREATE TABLE "${a}"."b.c" (id int PRIMARY KEY, v text)`)
  return a
}

async function published(publication: string): Promise<Array<[string, string]>> {
  const rows = await query<{ schemaname: string; tablename: string }>(url, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2`, [publication])
  return rows.map((row) => [row.schemaname, row.tablename])
}

describe('replication: table names with dots', () => {
  it.each([true, false])('refuses a.b.c (a dot in the schema or in the table?) with a typed error naming both readings, both tables existing: %s', async (both) => {
    const a = await dottedTables(both)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    try {
      for (const attempt of [
        () => ensureReplication(url, { ...names, tables: [`${a}.b.c`] }),
        () => replicationSetupSql({ ...names, tables: [`${a}.b.c`] }),
        () => changeStream(url, { ...names, tables: [`${a}.b.c`] }),
        () => changeStream(url, { ...names, tables: { [`${a}.b.c`]: (row: unknown) => ({ _tag: 'Right' as const, right: row }) } }),
      ]) {
        const error = await thrown(attempt)
        expect(error).toBeInstanceOf(ReplicationSetupError)
        expect((error as ReplicationSetupError).info.reason).toBe('invalid-name')
        const message = (error as ReplicationSetupError).message
        expect(message).toContain(`"${a}.b".c`)
        expect(message).toContain(`${a}."b.c"`)
      }
      expect(await query(url, `SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2`, [names.publication, names.slot])).toEqual([])
    } finally {
      await dropReplication(url, names)
    }
  })

  it('publishes and streams "a.b".c and a."b.c", each the table PostgreSQL reads, and nothing of the other', async () => {
    const a = await dottedTables(true)
    for (const [name, schema, table] of [
      [`"${a}.b".c`, `${a}.b`, 'c'],
      [`${a}."b.c"`, a, 'b.c'],
      [`"${a}"."b.c"`, a, 'b.c'],
    ] as const) {
      expect(replicationSetupSql({ slot: 's', publication: 'p', tables: [name] })).toContain(`CREATE PUBLICATION "p" FOR TABLE "${schema}"."${table}" WITH`)
      const names = await setup([name])
      expect(await published(names.publication)).toEqual([[schema, table]])
      // Idempotent: the table is found in the publication under the same name.
      expect(await ensureReplication(url, { ...names, tables: [name] })).toEqual({ createdPublication: false, addedTables: [], createdSlot: false })
      const stream = open(names, { tables: [name] })
      const got = collect(stream.changes$)
      await stateOf(stream, 'connected')
      await query(url, `INSERT INTO "${a}.b"."c" VALUES (1, 'schema a.b, table c'); INSERT INTO "${a}"."b.c" VALUES (1, 'schema a, table b.c')`)
      await eventually(() => got.values.length > 0 || got.errors.length > 0, () => 'nothing received')
      expect(got.errors).toEqual([])
      expect(got.values.map((change) => [change.schema, change.table])).toEqual([[schema, table]])
      await query(url, `DELETE FROM "${a}.b"."c"; DELETE FROM "${a}"."b.c"`)
    }
  })

  it('adds a."b.c" to a publication of "a.b".c, telling them apart, and streams both under their names', async () => {
    const a = await dottedTables(true)
    const names = await setup([`"${a}.b".c`])
    expect(await ensureReplication(url, { ...names, tables: [`"${a}.b".c`, `${a}."b.c"`] })).toEqual({
      createdPublication: false,
      addedTables: [`${a}."b.c"`],
      createdSlot: false,
    })
    expect(await published(names.publication)).toEqual([
      [a, 'b.c'],
      [`${a}.b`, 'c'],
    ])
    const stream = open(names, { tables: [`"${a}.b"."c"`, `"${a}"."b.c"`] })
    const got = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO "${a}.b"."c" VALUES (1, 'x'); INSERT INTO "${a}"."b.c" VALUES (2, 'y')`)
    await eventually(() => got.values.length === 2, () => `got ${got.values.length}`)
    expect(got.values.map((change) => [change.schema, change.table, change.new])).toEqual([
      [`${a}.b`, 'c', { id: 1, v: 'x' }],
      [a, 'b.c', { id: 2, v: 'y' }],
    ])
  })

  it('names a table that does not exist as it was written, not as pg misread it', async () => {
    const a = uniqueName('a')
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const error = await thrown(() => ensureReplication(url, { ...names, tables: [`"${a}.b".c`] }))
    expect(error).toBeInstanceOf(ReplicationSetupError)
    expect((error as ReplicationSetupError).info).toMatchObject({ reason: 'table-missing', table: `"${a}.b".c` })
  })
})

describe('replication: a table renamed, moved or dropped under a stream', () => {
  // Each change: the DDL, and the table's name after it (none once dropped).
  it.each<[string, (table: string) => [string, string | undefined]]>([
    ['renamed', (table) => [`ALTER TABLE ${table} RENAME TO ${table}_2`, `${table}_2`]],
    ['moved to another schema', (table) => [`CREATE SCHEMA ${table}_s; ALTER TABLE ${table} SET SCHEMA ${table}_s`, `${table}_s.${table}`]],
    ['dropped', (table) => [`DROP TABLE ${table}`, undefined]],
  ])('fails the next session with table-missing when the table was %s, saying to name it as it is now, not to add it', async (_what, change) => {
    const table = uniqueName('tr')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY, a text)`)
    const names = await setup([table])
    const first = open(names, { tables: [table] })
    const got = collect(first.changes$)
    await stateOf(first, 'connected')
    await query(url, `INSERT INTO ${table} VALUES (1, 'before')`)
    await eventually(() => got.values.length === 1, () => 'the insert')
    const [ddl, now] = change(table)
    await query(url, ddl)
    // While the stream runs, the table is followed by its OID: its change comes under the name the stream watches.
    if (now !== undefined) {
      await query(url, `INSERT INTO ${now} VALUES (2, 'after')`)
      await eventually(() => got.values.length === 2, () => 'the insert under the new name')
      expect([got.values[1]?.schema, got.values[1]?.table, got.values[1]?.new]).toEqual(['public', table, { id: 2, a: 'after' }])
    }
    await first.close()
    const stored = (got.values[0] as Change).position

    const resumed = open(names, { tables: [table], resumeAfter: stored })
    resumed.changes$.subscribe({ error: () => undefined })
    const failed = await stateOf(resumed, 'failed')
    const error = failed.error as ReplicationSetupError
    expect(error).toBeInstanceOf(ReplicationSetupError)
    expect(error.info).toMatchObject({ reason: 'table-missing', table: `public.${table}` })
    expect(error.message).toContain(`Table public.${table} does not exist`)
    expect(error.message).toMatch(/renamed/)
    expect(error.message).toMatch(/as it is now/)
    expect(error.message).not.toContain('ADD TABLE public.')

    // As the message says: named as it is now, from the stored position, the change left out comes.
    if (now === undefined) return
    const renamed = open(names, { tables: [now], resumeAfter: stored })
    const again = collect(renamed.changes$)
    await eventually(() => again.values.length > 0 || again.errors.length > 0, () => 'the change under the new name')
    expect(again.errors).toEqual([])
    expect(again.values.map((item) => [`${item.schema}.${item.table}`, item.new])).toEqual([[now.includes('.') ? now : `public.${now}`, { id: 2, a: 'after' }]])
  })
})
