// What the generated triggers must survive without ever failing a writer or carrying a wrong row: a key column
// whose type a migration changes under a session that already ran the trigger, columns named new and old, and
// identical changes repeated in one transaction (which NOTIFY would fold into one on the light carrier).
import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChangeFeedNotInstalledError, changeFeedChannel, changeFeedSql, tableChanges, type ChangeFeedSpec, type JsonRow, type TableChange } from '../../lib/changes/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { collect } from '../support/listener.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_triggers')
})
afterAll(async () => {
  await fixture.close()
})

const shown = (change: TableChange<JsonRow>) => {
  const row = change.new ?? change.old
  return [change.op, row?._tag === 'Right' ? row.right : row?.left.message]
}

async function feedOf(name: string, spec: Omit<ChangeFeedSpec, 'table'>): Promise<ReturnType<typeof collect<TableChange<JsonRow>>>> {
  const installed = await fixture.install({ ...spec, table: name })
  const changes = collect(tableChanges(fixture.source, (spec.carrier ?? 'durable') === 'durable' ? { ...installed, from: 'earliest' } : installed))
  if (spec.carrier === 'light') await firstValueFrom(fixture.listener.listening(changeFeedChannel(installed)).pipe(filter(Boolean)))
  return changes
}

/** Runs each write; each with the error it failed with (undefined when it committed). */
async function failuresOf(writes: readonly string[]): Promise<Array<[string, { code?: string; message: string } | undefined]>> {
  const failures: Array<[string, { code?: string; message: string } | undefined]> = []
  for (const write of writes) failures.push([write, await fixture.sql(write).then(() => undefined, (error: unknown) => error as { code?: string; message: string })])
  return failures
}

const feeds: Array<[string, Omit<ChangeFeedSpec, 'table'>]> = [
  ['durable, statement level', { carrier: 'durable', level: 'statement' }],
  ['durable, row level', { carrier: 'durable', level: 'row' }],
  ['durable, some columns', { carrier: 'durable', level: 'row', columns: ['id', 'label'] }],
  ['light', { carrier: 'light' }],
]

describe.each(feeds)('a %s feed', (title, spec) => {
  const name = (suffix: string) => `${suffix}_${title.replaceAll(/[^a-z]+/g, '_')}`

  // A feed of some columns compares them in its update trigger's WHEN, and PostgreSQL refuses to change the type
  // of a column a trigger's WHEN uses: that migration drops the feed first (docs/changes.md).
  it.skipIf(spec.columns !== undefined)("keeps a writer's session working when a migration changes the key column's type (int to bigint)", async () => {
    const table = fixture.table(name('retyped'))
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, label text)`)
    const changes = await feedOf(name('retyped'), spec)
    // One session that has run the trigger (its plans are cached) before the migration, and writes after it.
    const writer = new pg.Client(fixture.url)
    await writer.connect()
    try {
      await writer.query(`INSERT INTO ${table} VALUES (1, 'a')`)
      await writer.query(`UPDATE ${table} SET label = 'b' WHERE id = 1`)
      // The reader's start check (which reads the column types) done before the migration, as for a running reader.
      await received(changes, 2)
      await fixture.sql(`ALTER TABLE ${table} ALTER COLUMN id TYPE bigint`)
      await writer.query(`INSERT INTO ${table} VALUES (9007199254740993, 'c')`)
      await writer.query(`UPDATE ${table} SET label = 'd' WHERE id = 1`)
      await writer.query(`DELETE FROM ${table} WHERE id = 1`)
    } finally {
      await writer.end()
    }
    const ops = (await received(changes, 5)).map((change) => [change.op, change.key])
    expect(ops).toEqual([
      ['insert', { id: 1 }],
      ['update', { id: 1 }],
      // A bigint that a double cannot hold makes the reader read the column types again: bigint keys are strings.
      ['insert', { id: '9007199254740993' }],
      ['update', { id: '1' }],
      ['delete', { id: '1' }],
    ])
    changes.stop()
  })

  // A key column renamed by a migration that did not apply the feed's SQL again: row-level triggers took the key
  // out of the row's json, where the old name is missing, and logged the change with a null key, in another
  // partition than the row's earlier changes, while statement-level ones failed the write (a new user's trial).
  // A listed column renamed the same way was carried as null: the value was lost, silently.
  const renames = [
    { what: 'a key column', column: 'id', renamed: 'order_id', applies: true },
    { what: 'a listed column', column: 'label', renamed: 'title', applies: spec.columns !== undefined },
  ]
  for (const { what, column, renamed, applies } of renames) {
    it.skipIf(!applies)(`fails every write, saying what to do, once ${what} was renamed and the SQL not applied again`, async () => {
      const table = fixture.table(name(`renamed_${column}`))
      await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, label text)`)
      await fixture.install({ ...spec, table: name(`renamed_${column}`) })
      await fixture.sql(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'a')`)
      await fixture.sql(`ALTER TABLE ${table} RENAME COLUMN ${column} TO ${renamed}`)
      const key = column === 'id' ? renamed : 'id'
      for (const [write, failed] of await failuresOf([`INSERT INTO ${table} VALUES (3, 'b')`, `UPDATE ${table} SET ${column === 'label' ? renamed : 'label'} = 'b' WHERE ${key} = 1`, `DELETE FROM ${table} WHERE ${key} = 2`])) {
        expect(failed, write).toMatchObject({ code: '42703' })
        // Row-level triggers say what to do; statement-level ones fail where PostgreSQL finds the column missing.
        if (spec.level === 'row' || spec.carrier === 'light') expect(failed?.message, write).toContain("generate the feed's SQL again")
      }
    })
  }

  it('carries the rows of a table with columns named new and old', async () => {
    const table = fixture.table(name('named'))
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, new boolean, old boolean, label text)`)
    const changes = await feedOf(name('named'), spec)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, true, false, 'hi')`)
    await fixture.sql(`UPDATE ${table} SET label = 'bye' WHERE id = 1`)
    await fixture.sql(`DELETE FROM ${table} WHERE id = 1`)
    const row = (label: string) => (spec.columns ? { id: 1, label } : { id: 1, new: true, old: false, label })
    expect((await received(changes, 3)).map(shown)).toEqual([
      ['insert', row('hi')],
      ['update', row('bye')],
      ['delete', row('bye')],
    ])
    changes.stop()
  })

  it('delivers every change of a transaction that repeats the same change', async () => {
    const table = fixture.table(name('repeated'))
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, label text)`)
    const changes = await feedOf(name('repeated'), spec)
    // One statement_timestamp() for the whole block: the same change twice is the same payload text.
    await fixture.sql(`DO $$ BEGIN
      INSERT INTO ${table} VALUES (1, 'open');
      UPDATE ${table} SET label = 'closed'; UPDATE ${table} SET label = 'open'; UPDATE ${table} SET label = 'closed';
      DELETE FROM ${table}; INSERT INTO ${table} VALUES (1, 'open'); DELETE FROM ${table}; INSERT INTO ${table} VALUES (1, 'open');
    END $$`)
    expect((await received(changes, 8)).map((change) => change.op)).toEqual(['insert', 'update', 'update', 'update', 'delete', 'insert', 'delete', 'insert'])
    changes.stop()
  })
})

// A composite key (tenant, id) with only id renamed: the message named both ("tenant", "id"), though tenant was
// still there (a new user's trial). Only the missing column(s) are named, of the key and of the listed columns.
describe.each([
  ['durable, row level', { carrier: 'durable', level: 'row' }],
  ['light', { carrier: 'light' }],
] as Array<[string, Omit<ChangeFeedSpec, 'table'>]>)('a %s feed whose named column was renamed', (title, spec) => {
  const name = (suffix: string) => `${suffix}_${title.replaceAll(/[^a-z]+/g, '_')}`

  it.each([
    ['key column', 'id', 'ident'],
    ['listed column', 'label', 'title'],
  ])('names only the missing %s in the error of every write', async (what, column, renamed) => {
    const bare = name(`gone_${column}`)
    const table = fixture.table(bare)
    await fixture.sql(`CREATE TABLE ${table} (tenant int, id int, label text, note text, PRIMARY KEY (tenant, id))`)
    await fixture.install({ ...spec, table: bare, columns: ['tenant', 'id', 'label', 'note'] })
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'a', 'n'), (1, 2, 'b', 'n')`)
    await fixture.sql(`ALTER TABLE ${table} RENAME COLUMN ${column} TO ${renamed}`)
    const id = column === 'id' ? renamed : 'id'
    for (const [write, failed] of await failuresOf([`INSERT INTO ${table} VALUES (1, 3, 'c', 'n')`, `UPDATE ${table} SET note = 'm' WHERE ${id} = 1`, `DELETE FROM ${table} WHERE ${id} = 2`])) {
      expect(failed, write).toMatchObject({ code: '42703' })
      const named = /it names \(([^)]*)\)/.exec(failed?.message ?? '')?.[1]
      expect(named, `${write}: ${failed?.message}`).toBe(`"${column}"`)
      expect(failed?.message, write).toContain(what === 'key column' ? 'a key column it names' : 'a column it names')
    }
  })
})

describe('a renamed table', () => {
  it('keeps its feed, named as before, once the feed SQL is run again for the new name (no second feed, no error)', async () => {
    const before = fixture.table('renamed_before')
    await fixture.sql(`CREATE TABLE ${before} (id int PRIMARY KEY, label text)`)
    const installed = await fixture.install({ table: 'renamed_before', key: ['id'] })
    await fixture.sql(`ALTER TABLE ${before} RENAME TO renamed_after`)
    // What the not-installed error names: the feed SQL for the table's new name, under the feed's old name.
    const again = await fixture.install({ table: 'renamed_after', name: 'renamed_before', key: ['id'] })
    expect(changeFeedChannel(again)).toBe(changeFeedChannel(installed))
    const changes = collect(tableChanges(fixture.source, { ...again, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${fixture.table('renamed_after')} VALUES (1, 'a')`)
    expect((await received(changes, 1)).map((change) => [change.op, change.table])).toEqual([['insert', 'renamed_after']])
    const triggers = await fixture.sql<{ count: number }>(`SELECT count(*)::int AS count FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, [fixture.table('renamed_after')])
    expect(triggers[0]?.count).toBe(3)
    changes.stop()
  })

  it("says, asked for the new name, that the table's feed is the old one: keep its name (not a second feed)", async () => {
    const before = fixture.table('moved_before')
    await fixture.sql(`CREATE TABLE ${before} (id int PRIMARY KEY, label text)`)
    await fixture.install({ table: 'moved_before', key: ['id'] })
    await fixture.sql(`ALTER TABLE ${before} RENAME TO moved_after`)
    const failureOf = async (spec: ChangeFeedSpec) => {
      const failure: unknown = await firstValueFrom(tableChanges(fixture.source, spec)).then(() => undefined, (error: unknown) => error)
      expect(failure).toBeInstanceOf(ChangeFeedNotInstalledError)
      return (failure as ChangeFeedNotInstalledError).info
    }
    // Asked by the new name alone: the table already has a feed, named after its old name.
    const byTable = await failureOf({ table: `${fixture.schema}.moved_after` })
    expect(byTable.reason).toBe('different')
    expect(byTable.detail).toMatch(/feed "moved_before".*renamed/)
    expect(byTable.command).toContain('--name moved_before')
    expect(byTable.command).toContain('moved_after')
    // Asked by the old feed name: a rename, not a clash of names.
    const byName = await failureOf({ table: `${fixture.schema}.moved_after`, name: 'moved_before' })
    expect(byName.detail).toMatch(/renamed/)
    expect(byName.detail).not.toMatch(/give this feed another name/)
    expect(byName.command).toContain('--name moved_before')
    // The SQL of a second feed, named after the table's new name, is refused before it changes anything.
    const second = changeFeedSql({ table: `${fixture.schema}.moved_after`, key: ['id'], logSchema: fixture.schema }).install
    await expect(fixture.sql(second)).rejects.toThrow(/already has feed moved_before .*before the table was renamed or moved to another schema.*--name moved_before/)
  })
})


// A statement-level trigger's condition would be text in its function: PostgreSQL checks it when the function
// first runs (every INSERT failing after a clean install) and never follows a rename. So ops with a `when` are
// row-level whatever the feed's level, where the condition is the trigger's own WHEN.
describe('a statement-level durable feed', () => {
  it("refuses a `when` naming a column that is not there at install, as a row-level feed does, instead of failing every write after", async () => {
    const table = fixture.table('when_typo')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, status text NOT NULL)`)
    const installing = fixture.install({ table: 'when_typo', level: 'statement', when: { insert: "NEW.staus <> 'x'" } }).catch((error: unknown) => error)
    expect(String(await installing)).toMatch(/staus/)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'placed')`)
  })

  it('keeps writers working after a rename of a column its `when` names, and carries what the condition lets through', async () => {
    const table = fixture.table('when_rename')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, status text NOT NULL)`)
    const changes = await feedOf('when_rename', { carrier: 'durable', level: 'statement', when: { insert: "NEW.status <> 'draft'", delete: "OLD.status <> 'draft'" } })
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'draft'), (2, 'placed')`)
    await fixture.sql(`ALTER TABLE ${table} RENAME COLUMN status TO state`)
    await fixture.sql(`INSERT INTO ${table} VALUES (3, 'placed'), (4, 'draft')`)
    await fixture.sql(`DELETE FROM ${table} WHERE id IN (3, 4)`)
    const all = await received(changes, 3)
    changes.stop()
    expect(all.map(shown)).toEqual([
      ['insert', { id: 2, status: 'placed' }],
      ['insert', { id: 3, state: 'placed' }],
      ['delete', { id: 3, state: 'placed' }],
    ])
  })

  it('refuses, at install, a virtual generated column among its columns, which a transition table does not compute (PostgreSQL 18)', async (context) => {
    const [server] = (await fixture.sql(`SELECT current_setting('server_version_num')::int AS version`)) as Array<{ version: number }>
    if ((server?.version ?? 0) < 180000) context.skip()
    const table = fixture.table('virtual_columns')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, a int NOT NULL, v int GENERATED ALWAYS AS (a * 2) VIRTUAL)`)
    const installing = fixture.install({ table: 'virtual_columns', level: 'statement', columns: ['id', 'v'] }).catch((error: unknown) => error)
    expect(String(await installing)).toMatch(/"v" is a virtual generated column.*level 'row'/)
    await fixture.sql(`INSERT INTO ${table} (id, a) VALUES (1, 1)`)
  })
})

describe('a feed keyed by a timestamptz', () => {
  it("gives one row one key and one partition whatever the writers' time zones, once its function's TimeZone is pinned (the docs' recipe)", async () => {
    const table = fixture.table('tz_key')
    await fixture.sql(`CREATE TABLE ${table} (at timestamptz PRIMARY KEY, note text)`)
    const installed = await fixture.install({ table: 'tz_key' })
    await fixture.sql(`ALTER FUNCTION "${fixture.schema}"."rxpg_changes_tz_key"() SET "TimeZone" = 'UTC'`)
    const changes = collect(tableChanges(fixture.source, { ...installed, from: 'earliest' }))
    const writer = await fixture.pool.connect()
    try {
      for (const [zone, statement] of [
        ['Asia/Tokyo', `INSERT INTO ${table} VALUES ('2026-01-01 00:00:00+00', 'a')`],
        ['America/New_York', `UPDATE ${table} SET note = 'b'`],
        ['Europe/Berlin', `UPDATE ${table} SET note = 'c'`],
      ] as const) {
        await writer.query(`SET TimeZone = '${zone}'`)
        await writer.query(statement)
      }
      await writer.query('RESET TimeZone')
    } finally {
      writer.release()
    }
    const all = await received(changes, 3)
    changes.stop()
    expect(new Set(all.map((change) => JSON.stringify(change.key))).size).toBe(1)
    const rows = await fixture.sql(`SELECT DISTINCT part FROM "${fixture.schema}".durable_log WHERE channel = $1`, [`changes:${fixture.schema}.tz_key`])
    expect(rows).toHaveLength(1)
  })
})
