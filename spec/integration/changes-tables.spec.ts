// Feeds on tables that are not alone: a partition written through its partitioned table, a table attached as a
// partition after its feed was installed, inheritance parents and children, and a table moved to another schema
// under a running reader. Statement-level triggers fire only for statements that name their own table, and see
// a child's rows in a parent's transition table: a feed must never miss (or invent) a change of its table's rows.
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChangeFeedNotInstalledError,
  changeFeedChannel,
  changeFeedSql,
  installChangeFeed,
  tableChanges,
  type ChangeFeedSpec,
  type JsonRow,
  type TableChange,
} from '../../lib/changes/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { eventually } from '../support/database.js'
import { collect } from '../support/listener.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_tables')
})
afterAll(async () => {
  await fixture.close()
})

const feeds: Array<[string, Omit<ChangeFeedSpec, 'table'>]> = [
  ['durable (default: statement level)', {}],
  ['durable, row level', { level: 'row' }],
  ['light', { carrier: 'light' }],
]

/** op and key of each change, for comparison. */
const opsAndKeys = (changes: ReadonlyArray<TableChange<JsonRow>>) => changes.map((change) => [change.op, change.key])

/** A reader of the feed on `table` (a bare name): durable from its earliest change, light once it listens. */
async function readerOf(installed: ChangeFeedSpec, recheckInterval?: number): Promise<ReturnType<typeof collect<TableChange<JsonRow>>>> {
  const options = { ...installed, ...(recheckInterval === undefined ? {} : { recheckInterval }) }
  const changes = collect(tableChanges(fixture.source, (installed.carrier ?? 'durable') === 'durable' ? { ...options, from: 'earliest' } : options))
  if (installed.carrier === 'light') await firstValueFrom(fixture.listener.listening(changeFeedChannel(installed)).pipe(filter(Boolean)))
  return changes
}

/** The start check's failure for `spec` (undefined when it passes). */
async function startFailure(spec: ChangeFeedSpec): Promise<ChangeFeedNotInstalledError> {
  const failure: unknown = await firstValueFrom(tableChanges(fixture.source, spec)).then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(failure).toBeInstanceOf(ChangeFeedNotInstalledError)
  return failure as ChangeFeedNotInstalledError
}

const serverVersion = async () => ((await fixture.sql<{ version: number }>(`SELECT current_setting('server_version_num')::int AS version`))[0]?.version ?? 0)

const slug = (title: string) => title.replaceAll(/[^a-z]+/g, '_').replace(/_$/, '')

describe.each(feeds)('a %s feed on a partition', (title, spec) => {
  it('delivers every change of its rows, written through the partitioned table or the partition itself; a row an UPDATE moves out arrives as a delete, one it moves in as an insert', async () => {
    const parent = fixture.table(`leaf_${slug(title)}`)
    const leaf = `leaf_${slug(title)}_a`
    await fixture.sql(`CREATE TABLE ${parent} (id int, region text, label text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`)
    await fixture.sql(`CREATE TABLE ${fixture.table(leaf)} PARTITION OF ${parent} FOR VALUES IN ('a')`)
    await fixture.sql(`CREATE TABLE ${fixture.table(`${leaf.slice(0, -2)}_b`)} PARTITION OF ${parent} FOR VALUES IN ('b')`)
    const changes = await readerOf(await fixture.install({ ...spec, table: leaf }))
    for (const write of [
      `INSERT INTO ${parent} VALUES (1, 'a', 'through the parent')`,
      `INSERT INTO ${fixture.table(leaf)} VALUES (2, 'a', 'into the partition')`,
      `INSERT INTO ${parent} VALUES (3, 'b', 'another partition')`,
      `UPDATE ${parent} SET label = 'updated through the parent' WHERE id = 1`,
      `UPDATE ${parent} SET region = 'b' WHERE id = 2`,
      `UPDATE ${parent} SET region = 'a' WHERE id = 3`,
      `INSERT INTO ${parent} SELECT n, 'a', 'many' FROM generate_series(4, 6) n`,
      `DELETE FROM ${parent} WHERE id = 1`,
      `DELETE FROM ${fixture.table(leaf)} WHERE id = 4`,
      `DELETE FROM ${parent} WHERE region = 'b'`,
      `DELETE FROM ${parent} WHERE id = 3`,
    ]) {
      await fixture.sql(write)
    }
    const key = (id: number) => ({ id, region: 'a' })
    expect(opsAndKeys(await received(changes, 11))).toEqual([
      ['insert', key(1)],
      ['insert', key(2)],
      ['update', key(1)],
      // Moved to partition b: PostgreSQL deletes it from a (and inserts it into b), firing no UPDATE trigger.
      ['delete', key(2)],
      ['insert', key(3)],
      ['insert', key(4)],
      ['insert', key(5)],
      ['insert', key(6)],
      ['delete', key(1)],
      ['delete', key(4)],
      ['delete', key(3)],
    ])
    changes.stop()
  })
})

describe('a feed on a table attached as a partition after its SQL was applied', () => {
  it('is refused by the start check, naming the SQL to apply again, and delivers every change written through the partitioned table once it is applied', async () => {
    const leaf = fixture.table('ev_2026')
    await fixture.sql(`CREATE TABLE ${leaf} (id int, y int NOT NULL DEFAULT 2026, label text, PRIMARY KEY (id, y))`)
    const installed = await fixture.install({ table: 'ev_2026' })
    await fixture.sql(`INSERT INTO ${leaf} (id, label) VALUES (1, 'before the migration')`)
    // The usual migration: a partitioned table, and the existing table attached as its partition.
    await fixture.sql(`CREATE TABLE ${fixture.table('ev')} (id int, y int NOT NULL, label text, PRIMARY KEY (id, y)) PARTITION BY LIST (y)`)
    const attach = `ALTER TABLE ${fixture.table('ev')} ATTACH PARTITION ${leaf} FOR VALUES IN (2026)`
    const sql = changeFeedSql({ table: leaf, key: ['id', 'y'], logSchema: fixture.schema })
    const refused: unknown = await fixture.sql(attach).then(
      () => undefined,
      (error: unknown) => error,
    )
    if (refused === undefined) {
      const failure = await startFailure({ table: leaf })
      expect(failure.info.reason).toBe('different')
      expect(failure.message).toMatch(/is a partition of .*"ev"/)
      expect(failure.info.command).toBe(`npx rxpg sql changes --table ${fixture.schema}.ev_2026 --key id,y --log-schema ${fixture.schema} | psql -1 -v ON_ERROR_STOP=1 "$DATABASE_URL"`)
      // The SQL that command prints, applied.
      await fixture.sql(sql.install)
    } else {
      // PostgreSQL 12 refuses to attach a table with a trigger with transition tables (statement-level ones too):
      // nothing is lost. The documented migration: the feed's drop SQL, the ATTACH and its SQL, in one transaction.
      expect(await serverVersion()).toBeLessThan(180000)
      expect(refused).toMatchObject({ code: '0A000', message: expect.stringMatching(/prevents table "ev_2026" from becoming a partition/) })
      await fixture.sql(`BEGIN; ${sql.drop} ${attach}; ${sql.install} COMMIT;`)
    }

    const changes = collect(tableChanges(fixture.source, { ...installed, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${fixture.table('ev')} VALUES (2, 2026, 'through the partitioned table')`)
    await fixture.sql(`UPDATE ${fixture.table('ev')} SET label = 'updated' WHERE id = 2`)
    await fixture.sql(`DELETE FROM ${fixture.table('ev')} WHERE id = 1`)
    await fixture.sql(`DELETE FROM ${fixture.table('ev')} WHERE id = 2`)
    const key = (id: number) => ({ id, y: 2026 })
    expect(opsAndKeys(await received(changes, 5))).toEqual([
      ['insert', key(1)],
      ['insert', key(2)],
      ['update', key(2)],
      ['delete', key(1)],
      ['delete', key(2)],
    ])
    changes.stop()
  })
})

describe.each(feeds)('a %s feed in an inheritance tree', (title, spec) => {
  const name = (suffix: string) => `${suffix}_${slug(title)}`

  it("reports the parent's own rows only, on the parent (each child needs a feed of its own)", async () => {
    const parent = fixture.table(name('inh'))
    await fixture.sql(`CREATE TABLE ${parent} (id int PRIMARY KEY, label text)`)
    await fixture.sql(`CREATE TABLE ${fixture.table(name('inh_child'))} (PRIMARY KEY (id)) INHERITS (${parent})`)
    const changes = await readerOf(await fixture.install({ ...spec, table: name('inh') }))
    await fixture.sql(`INSERT INTO ${parent} VALUES (1, 'parent row')`)
    await fixture.sql(`INSERT INTO ${fixture.table(name('inh_child'))} VALUES (2, 'child row')`)
    await fixture.sql(`UPDATE ${parent} SET label = label || ' updated'`)
    await fixture.sql(`DELETE FROM ${parent}`)
    await fixture.sql(`INSERT INTO ${parent} VALUES (3, 'last')`)
    expect(opsAndKeys(await received(changes, 4))).toEqual([
      ['insert', { id: 1 }],
      ['update', { id: 1 }],
      ['delete', { id: 1 }],
      ['insert', { id: 3 }],
    ])
    changes.stop()
  })

  it("reports every change of a child's rows, written through the parent too", async () => {
    const parent = fixture.table(name('inh2'))
    const child = fixture.table(name('inh2_child'))
    await fixture.sql(`CREATE TABLE ${parent} (id int PRIMARY KEY, label text)`)
    await fixture.sql(`CREATE TABLE ${child} (PRIMARY KEY (id)) INHERITS (${parent})`)
    const changes = await readerOf(await fixture.install({ ...spec, table: name('inh2_child') }))
    await fixture.sql(`INSERT INTO ${parent} VALUES (1, 'parent row')`)
    await fixture.sql(`INSERT INTO ${child} VALUES (2, 'child row')`)
    await fixture.sql(`UPDATE ${parent} SET label = label || ' updated'`)
    await fixture.sql(`DELETE FROM ${parent}`)
    expect(opsAndKeys(await received(changes, 3))).toEqual([
      ['insert', { id: 2 }],
      ['update', { id: 2 }],
      ['delete', { id: 2 }],
    ])
    changes.stop()
  })
})

describe('a statement-level feed on a table that joined an inheritance tree after its SQL was applied', () => {
  it.each([
    ['gained a child', 'joined_parent', (table: string) => `CREATE TABLE ${fixture.table('joined_parent_child')} () INHERITS (${table})`, /has inheritance children .*joined_parent_child/],
    ['became a child', 'joined_child', (table: string) => `CREATE TABLE ${fixture.table('joined_child_parent')} (id int, label text); ALTER TABLE ${table} INHERIT ${fixture.table('joined_child_parent')}`, /inherits from .*joined_child_parent/],
  ])('is refused by the start check once its table %s, and works once its SQL is applied again', async (_what, bare, join, message) => {
    const table = fixture.table(bare)
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, label text)`)
    const installed = await fixture.install({ table: bare })
    const refused: unknown = await fixture.sql(join(table)).then(
      () => undefined,
      (error: unknown) => error,
    )
    if (refused === undefined) {
      const failure = await startFailure({ table })
      expect(failure.info.reason).toBe('different')
      expect(failure.message).toMatch(message)
      expect(failure.info.command).toContain(`npx rxpg sql changes --table ${fixture.schema}.${bare} --key id`)
      await fixture.install({ table: bare })
    } else {
      // PostgreSQL 12 refuses ALTER TABLE … INHERIT for a table with a trigger with transition tables: the feed's drop
      // SQL, the INHERIT and its SQL, in one transaction.
      expect(await serverVersion()).toBeLessThan(180000)
      expect(refused).toMatchObject({ code: '0A000', message: expect.stringMatching(/from becoming an inheritance child/) })
      const sql = changeFeedSql({ table, key: ['id'], logSchema: fixture.schema })
      await fixture.sql(`BEGIN; ${sql.drop} ${join(table)}; ${sql.install} COMMIT;`)
    }
    const changes = collect(tableChanges(fixture.source, { ...installed, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'a')`)
    await fixture.sql(`DELETE FROM ${table}`)
    expect(opsAndKeys(await received(changes, 2))).toEqual([
      ['insert', { id: 1 }],
      ['delete', { id: 1 }],
    ])
    changes.stop()
  })
})

describe.each([
  ['durable', {}],
  ['light', { carrier: 'light' as const }],
])('a table with a %s feed moved to another schema (ALTER TABLE … SET SCHEMA)', (carrier, spec) => {
  it('keeps its feed and channel: the start check says it moved and names the command that keeps them; a running reader keeps receiving', async () => {
    const bare = `moved_${carrier}`
    const other = `${fixture.schema}_${carrier}_to`
    await fixture.sql(`CREATE SCHEMA "${other}"`)
    await fixture.sql(`CREATE TABLE ${fixture.table(bare)} (id int PRIMARY KEY, label text)`)
    const installed = await fixture.install({ ...spec, table: bare })
    // Rechecking its feed often: a move is no reason to stop.
    const running = await readerOf(installed, 50)
    await fixture.sql(`INSERT INTO ${fixture.table(bare)} VALUES (1, 'before the move')`)
    await received(running, 1) // reading (its start check passed) before the move
    await fixture.sql(`ALTER TABLE ${fixture.table(bare)} SET SCHEMA "${other}"`)
    const moved = `"${other}"."${bare}"`
    await fixture.sql(`INSERT INTO ${moved} VALUES (2, 'moved, before its SQL is applied again')`)

    // Asked by the new name (and the feed's name): the table's feed is the one in the old schema.
    for (const asked of [{ table: moved }, { table: moved, name: bare }]) {
      const failure = await startFailure(asked)
      expect(failure.info.reason).toBe('different')
      expect(failure.message).toMatch(new RegExp(`moved .*schema.*"${other}"`))
      expect(failure.info.command).toContain(`--table ${other}.${bare} --feed-schema ${fixture.schema}`)
    }
    // Asked by the old name: the table is not there, and its feed now reports the moved table.
    const old = await startFailure({ table: fixture.table(bare) })
    expect(old.info.reason).toBe('no-table')
    expect(old.message).toContain(moved)

    // A feed of the table's new schema would replace the triggers and carry changes on another channel: refused.
    const elsewhere = changeFeedSql({ ...spec, table: moved, key: ['id'], ...(carrier === 'durable' ? { logSchema: fixture.schema } : {}) }).install
    await expect(fixture.sql(elsewhere)).rejects.toThrow(/--feed-schema/)

    // The SQL the command prints, applied: the feed keeps its function, sequence and channel in its schema.
    const kept: ChangeFeedSpec = { ...spec, table: moved, feedSchema: fixture.schema, ...(carrier === 'durable' ? { logSchema: fixture.schema } : {}) }
    await installChangeFeed(fixture.pool, kept)
    expect(changeFeedChannel(kept)).toBe(changeFeedChannel(installed))
    await fixture.sql(`INSERT INTO ${moved} VALUES (3, 'after its SQL')`)
    expect(opsAndKeys(await received(running, 3))).toEqual([
      ['insert', { id: 1 }],
      ['insert', { id: 2 }],
      ['insert', { id: 3 }],
    ])
    running.stop()
    // No function left behind: the feed's one, in the schema the table moved from.
    const functions = await fixture.sql(`SELECT p.pronamespace::regnamespace::text AS schema FROM pg_proc p WHERE p.proname = $1`, [`rxpg_changes_${bare}`])
    expect(functions).toEqual([{ schema: fixture.schema }])

    if (carrier === 'durable') {
      // History and live changes on one channel: a reader of the moved table reads them all.
      const again = collect(tableChanges(fixture.source, { table: moved, feedSchema: fixture.schema, from: 'earliest' }))
      await fixture.sql(`INSERT INTO ${moved} VALUES (4, 'read by a new reader')`)
      expect(opsAndKeys(await received(again, 4)).map(([, key]) => key)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }])
      again.stop()
    }
    // Its drop SQL removes it whole.
    await fixture.sql(changeFeedSql({ ...kept, key: ['id'] }).drop)
    const left = await fixture.sql(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal UNION ALL SELECT proname FROM pg_proc WHERE proname = $2`, [moved, `rxpg_changes_${bare}`])
    expect(left).toEqual([])
    await fixture.sql(`DROP SCHEMA "${other}" CASCADE`)
  })
})

describe('a dropped table', () => {
  it('is refused by the start check, naming the feed function left behind and how to remove it', async () => {
    const table = fixture.table('dropped')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
    await fixture.install({ table: 'dropped' })
    await fixture.sql(`DROP TABLE ${table}`)
    const failure = await startFailure({ table })
    expect(failure.info.reason).toBe('no-table')
    expect(failure.message).toContain(`its function "${fixture.schema}"."rxpg_changes_dropped"() still, with no trigger: the --drop variant of its SQL removes it`)
    await fixture.sql(changeFeedSql({ table, key: ['id'], logSchema: fixture.schema }).drop)
    expect(await fixture.sql(`SELECT 1 FROM pg_proc WHERE proname = 'rxpg_changes_dropped'`)).toEqual([])
  })
})

// A running reader used to wait for ever, without an error, once its feed stopped carrying changes on its channel.
describe.each([
  ['durable', {}],
  ['light', { carrier: 'light' as const }],
])('a running reader of a %s feed', (carrier, spec) => {
  const stopped = async (bare: string, change: (table: string, installed: ChangeFeedSpec) => Promise<unknown>) => {
    const table = fixture.table(bare)
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const installed = await fixture.install({ ...spec, table: bare })
    const reader = await readerOf(installed, 50)
    await fixture.sql(`INSERT INTO ${table} VALUES (1)`)
    await received(reader, 1)
    await change(table, installed)
    await eventually(() => reader.errors.length > 0, () => 'the reader never failed')
    expect(reader.errors[0]).toBeInstanceOf(ChangeFeedNotInstalledError)
    return reader.errors[0] as ChangeFeedNotInstalledError
  }

  it('fails when the feed is dropped (its drop SQL)', async () => {
    const failure = await stopped(`dropped_feed_${carrier}`, (table, installed) => fixture.sql(changeFeedSql({ ...installed, table, key: ['id'] }).drop))
    expect(failure.info.reason).toBe('missing')
    expect(failure.message).toMatch(/while this reader read it/)
  })

  it('fails when the table is dropped', async () => {
    const failure = await stopped(`dropped_table_${carrier}`, (table) => fixture.sql(`DROP TABLE ${table}`))
    expect(failure.info.reason).toBe('no-table')
  })

  it('fails when the feed is switched to the other carrier', async () => {
    const other = carrier === 'durable' ? 'light' : 'durable'
    const failure = await stopped(`switched_${carrier}`, (table) => installChangeFeed(fixture.pool, { table, carrier: other, ...(other === 'durable' ? { logSchema: fixture.schema } : {}) }))
    expect(failure.info).toMatchObject({ reason: 'different', differences: ['carrier'] })
  })
})
