// Change feeds on the durable carrier, against the real server: every op, column lists, WHEN, unchanged
// updates, key changes, both trigger levels, tokens and replay, decoding, and the wake-ups (no NOTIFY per
// transaction).
import { filter, firstValueFrom, take, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as v from 'valibot'
import { z } from 'zod'
import type { Decoder } from '../../lib/index.js'
import { collect } from '../support/listener.js'
import { rxpg } from '../support/cli.js'
import { createDurableLog, InvalidTokenError } from '../../lib/durable/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { changeFeedChannel, changeFeedSql, InvalidChangeFeedError, tableChanges, validChanges, type ChangeFeedSpec, type TableChange } from '../../lib/changes/index.js'
import { feedComment } from '../../lib/changes/feed-sql.js'
import { resolveFeed } from '../../lib/changes/feed.js'
import { quoteLiteral } from '../../lib/identifiers.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_durable')
})
afterAll(async () => {
  await fixture.close()
})

const Order = z.object({ id: z.string(), customer: z.number(), status: z.string(), total: z.string().nullable() })

/** The arguments of an error's `npx rxpg …` command, as a shell splits them (plain words here). */
function argsOf(command: string): string[] {
  const words = command.split(' | ')[0]!.split(' ')
  expect(words.slice(0, 2)).toEqual(['npx', 'rxpg'])
  expect(words.every((word) => !word.startsWith("'"))).toBe(true)
  return words.slice(2)
}

async function ordersTable(name: string): Promise<string> {
  const table = fixture.table(name)
  await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, customer int NOT NULL, status text NOT NULL, total numeric(10, 2))`)
  return table
}

/** The changes' essentials, for comparison: op, key, and the decoded rows. */
const essentials = (changes: ReadonlyArray<TableChange<unknown>>) =>
  changes.map((change) => ({
    op: change.op,
    key: change.key,
    ...(change.previousKey === undefined ? {} : { previousKey: change.previousKey }),
    ...(change.new === undefined ? {} : { new: change.new._tag === 'Right' ? change.new.right : 'invalid' }),
    ...(change.old === undefined ? {} : { old: change.old._tag === 'Right' ? change.old.right : 'invalid' }),
  }))

describe('durable feeds', () => {
  it('report every insert, update and delete in commit order, typed, with tokens and statement times', async () => {
    const table = await ordersTable('every_op')
    const spec = await fixture.install({ table: 'every_op' })
    const changes = collect(tableChanges(fixture.source, { ...spec, row: Order, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 7, 'placed', 9.50), (2, 8, 'placed', NULL)`)
    await fixture.sql(`UPDATE ${table} SET status = 'shipped' WHERE id = 1`)
    // Rows of one statement come in the order PostgreSQL processed them (for a DELETE, their place in the heap).
    await fixture.sql(`DELETE FROM ${table} WHERE id = 1; DELETE FROM ${table} WHERE id = 2`)
    const all = await received(changes, 5)
    changes.stop()
    expect(essentials(all)).toEqual([
      { op: 'insert', key: { id: '1' }, new: { id: '1', customer: 7, status: 'placed', total: '9.50' } },
      { op: 'insert', key: { id: '2' }, new: { id: '2', customer: 8, status: 'placed', total: null } },
      { op: 'update', key: { id: '1' }, new: { id: '1', customer: 7, status: 'shipped', total: '9.50' }, old: { id: '1', customer: 7, status: 'placed', total: '9.50' } },
      { op: 'delete', key: { id: '1' }, old: { id: '1', customer: 7, status: 'shipped', total: '9.50' } },
      { op: 'delete', key: { id: '2' }, old: { id: '2', customer: 8, status: 'placed', total: null } },
    ])
    expect(all.every((change) => change.schema === fixture.schema && change.table === 'every_op')).toBe(true)
    expect(new Set(all.map((change) => change.token)).size).toBe(5)
    expect(all.every((change) => change.statementTime instanceof Date && !Number.isNaN(change.statementTime.getTime()))).toBe(true)
  })

  it('resume after any token with the changes after it, and replay from earliest', async () => {
    const table = await ordersTable('resume')
    const spec = await fixture.install({ table: 'resume' })
    for (let id = 1; id <= 5; id++) await fixture.sql(`INSERT INTO ${table} VALUES ($1, 1, 'placed', 1)`, [id])
    const all = await firstValueFrom(tableChanges(fixture.source, { ...spec, from: 'earliest' }).pipe(take(5), toArray()))
    expect(all.map((change) => change.key)).toEqual([1, 2, 3, 4, 5].map((id) => ({ id: String(id) })))
    const rest = await firstValueFrom(tableChanges(fixture.source, { ...spec, from: all[1]!.token }).pipe(take(3), toArray()))
    expect(rest.map((change) => change.token)).toEqual(all.slice(2).map((change) => change.token))
  })

  it('refuse an option they do not take (a misspelt from read from now without a word), when called', async () => {
    await ordersTable('misspelt')
    const spec = await fixture.install({ table: 'misspelt' })
    const call = () => tableChanges(fixture.source, { ...spec, form: 'earliest' } as unknown as ChangeFeedSpec)
    expect(call).toThrow(InvalidChangeFeedError)
    expect(call).toThrow(/unknown option "form"; the options are \{ table, name, feedSchema, carrier, ops, columns, old, when, key, level, skipUnchangedUpdates, logSchema, partitions, wakeWindow, row, from, recheckInterval \}/)
    for (const recheckInterval of [0, -1, Number.NaN, 2 ** 31, '1000', true, null]) {
      expect(() => tableChanges(fixture.source, { ...spec, recheckInterval } as unknown as ChangeFeedSpec), String(recheckInterval)).toThrow(/recheckInterval must be a positive number of ms \(at most 2147483647\) or false/)
    }
  })

  it("refuse a null start (a token not stored yet) rather than pick 'now' for it", async () => {
    const table = await ordersTable('null_start')
    const spec = await fixture.install({ table: 'null_start' })
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1)`)
    const error = await firstValueFrom(tableChanges(fixture.source, { ...spec, from: null as unknown as string })).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InvalidTokenError)
    expect((error as InvalidTokenError).info.reason).toBe('malformed')
  })

  it('write the same changes with statement-level and row-level triggers, multi-row statements included', async () => {
    const sequences: unknown[] = []
    for (const level of ['statement', 'row'] as const) {
      const name = `levels_${level}`
      const table = await ordersTable(name)
      const spec = await fixture.install({ table: name, level })
      const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
      await fixture.sql(`INSERT INTO ${table} SELECT g, g, 'placed', g FROM generate_series(1, 50) g`)
      await fixture.sql(`UPDATE ${table} SET status = 'paid' WHERE id % 10 = 0`)
      await fixture.sql(`DELETE FROM ${table} WHERE id > 45`)
      sequences.push(essentials(await received(changes, 60)))
      changes.stop()
    }
    expect(sequences[0]).toHaveLength(60)
    expect(sequences[1]).toEqual(sequences[0])
  })

  it('carry only the listed columns, and only the key of deleted rows with old: key', async () => {
    const table = await ordersTable('columns')
    const spec = await fixture.install({ table: 'columns', columns: ['status'], old: 'key' })
    const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 7, 'placed', 9.50)`)
    await fixture.sql(`UPDATE ${table} SET status = 'shipped'`)
    await fixture.sql(`UPDATE ${table} SET total = 10`) // no listed column changed: not reported
    await fixture.sql(`DELETE FROM ${table}`)
    expect(essentials(await received(changes, 3))).toEqual([
      { op: 'insert', key: { id: '1' }, new: { status: 'placed' } },
      { op: 'update', key: { id: '1' }, new: { status: 'shipped' } },
      { op: 'delete', key: { id: '1' } },
    ])
    changes.stop()
  })

  it('evaluate WHEN conditions in the database, one per op or one for all', async () => {
    const table = await ordersTable('conditions')
    const spec = await fixture.install({ table: 'conditions', when: { insert: "NEW.status <> 'draft'", update: 'NEW.total > OLD.total', delete: 'OLD.customer = 1' } })
    const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'draft', 5), (2, 2, 'placed', 5), (3, 1, 'placed', 5)`)
    await fixture.sql(`UPDATE ${table} SET total = total + 1 WHERE id = 1`)
    await fixture.sql(`UPDATE ${table} SET total = total - 1 WHERE id = 2`)
    await fixture.sql(`DELETE FROM ${table} WHERE id = 1; DELETE FROM ${table} WHERE id = 2; DELETE FROM ${table} WHERE id = 3`)
    await fixture.sql(`INSERT INTO ${table} VALUES (4, 1, 'placed', 1)`) // the last change: everything before it has been read
    const keys = essentials(await received(changes, 6)).map((change) => `${change.op} ${String(change.key.id)}`)
    changes.stop()
    // In commit order: a change that should have been filtered out would come before the last insert.
    expect(keys).toEqual(['insert 2', 'insert 3', 'update 1', 'delete 1', 'delete 3', 'insert 4'])
  })

  it('skip updates that change nothing carried, unless asked to report them', async () => {
    const keysOf = async (name: string, extra: Partial<ChangeFeedSpec>) => {
      const table = await ordersTable(name)
      const spec = await fixture.install({ table: name, ...extra })
      const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
      await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1)`)
      await fixture.sql(`UPDATE ${table} SET status = status`)
      await fixture.sql(`DELETE FROM ${table}`)
      const ops = (await received(changes, extra.skipUnchangedUpdates === false ? 3 : 2)).map((change) => change.op)
      changes.stop()
      return ops
    }
    expect(await keysOf('unchanged_skipped', {})).toEqual(['insert', 'delete'])
    expect(await keysOf('unchanged_reported', { skipUnchangedUpdates: false })).toEqual(['insert', 'update', 'delete'])
  })

  it('give the previous key of an update that changed the key', async () => {
    const table = await ordersTable('key_change')
    const spec = await fixture.install({ table: 'key_change' })
    const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1)`)
    await fixture.sql(`UPDATE ${table} SET id = 2`)
    const [, update] = await received(changes, 2)
    changes.stop()
    expect(update).toMatchObject({ op: 'update', key: { id: '2' }, previousKey: { id: '1' } })
  })

  it('decode rows with the codec, failures as values; validChanges keeps the good ones', async () => {
    const table = await ordersTable('decoding')
    const spec = await fixture.install({ table: 'decoding' })
    const Strict = Order.extend({ status: z.enum(['placed', 'shipped']) })
    const changes = collect(tableChanges(fixture.source, { ...spec, row: Strict, from: 'earliest' }))
    const invalid: string[] = []
    const valid = firstValueFrom(
      tableChanges(fixture.source, { ...spec, row: Strict, from: 'earliest' }).pipe(
        validChanges((error, change) => invalid.push(`${change.op} ${String(change.key.id)}: ${error.code}`)),
        take(2),
        toArray(),
      ),
    )
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1), (2, 1, 'lost', 1), (3, 1, 'shipped', 1)`)
    const all = await received(changes, 3)
    changes.stop()
    expect(all.map((change) => change.new?._tag)).toEqual(['Right', 'Left', 'Right'])
    const failure = all[1]!.new
    expect(failure?._tag === 'Left' && failure.left.info.messages.join()).toContain('status')
    expect((await valid).map((change) => change.new?.id)).toEqual(['1', '3'])
    expect(invalid).toEqual(['insert 2: DECODE_FAILED'])
  })

  it('decode rows with any codec decode takes: valibot, an io-ts style { decode }, a function returning an Either', async () => {
    const table = await ordersTable('codecs')
    const spec = await fixture.install({ table: 'codecs' })
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1), (2, 1, 'lost', 1)`)
    const placed = (row: unknown): row is { id: string; status: 'placed' } => typeof row === 'object' && row !== null && (row as { status?: unknown }).status === 'placed'
    const asEither = (row: unknown) => (placed(row) ? { _tag: 'Right' as const, right: row } : { _tag: 'Left' as const, left: 'not placed' })
    const tagsWith = async <D extends Decoder<unknown>>(row: D) => {
      const changes = await firstValueFrom(tableChanges(fixture.source, { ...spec, row, from: 'earliest' }).pipe(take(2), toArray()))
      return changes.map((change) => [change.key.id, change.new?._tag])
    }
    const expected = [
      ['1', 'Right'],
      ['2', 'Left'],
    ]
    expect(await tagsWith(v.object({ id: v.string(), status: v.literal('placed') }))).toEqual(expected)
    expect(await tagsWith({ decode: asEither })).toEqual(expected)
    expect(await tagsWith(asEither)).toEqual(expected)
    // An asynchronous validation (a Standard Schema that returns a promise) keeps the order of the changes.
    expect(await tagsWith(v.objectAsync({ id: v.string(), status: v.pipeAsync(v.string(), v.checkAsync(async (status) => status === 'placed')) }))).toEqual(expected)
  })

  it('wake readers with at most one NOTIFY per wake window, whatever the number of writing transactions', async () => {
    const table = await ordersTable('wakes')
    const spec = await fixture.install({ table: 'wakes', wakeWindow: 60_000 })
    const wakeChannel = `rxpg.durable.${fixture.schema}`
    const wakes = collect(fixture.listener.channel(wakeChannel).pipe(filter((n) => n.payload === changeFeedChannel(spec))))
    await firstValueFrom(fixture.listener.listening(wakeChannel).pipe(filter(Boolean)))
    const changes = collect(tableChanges(fixture.source, { ...spec, from: 'earliest' }))
    for (let id = 1; id <= 50; id++) await fixture.sql(`INSERT INTO ${table} VALUES ($1, 1, 'placed', 1)`, [id])
    await received(changes, 50) // the first through its wake-up, the others through the poll
    changes.stop()
    wakes.stop()
    expect(wakes.values).toHaveLength(1)
  })

  it('read through a log of their own (no log given) drop nothing: that log runs no maintenance, whatever its default retention', async () => {
    // A message 10 days old, in the default partition (no time partition covers it): the default retention
    // (7 days) would drop it. The application that writes the log keeps its messages longer; a reader (the
    // CLI's changes command, a tableChanges without log) must not impose its own defaults on every channel.
    await fixture.sql(`INSERT INTO "${fixture.schema}".durable_log (channel, part, key, value, appended_at) VALUES ('kept-long', 0, NULL, '1', now() - interval '10 days')`)
    const table = await ordersTable('reader_only')
    const spec = await fixture.install({ table: 'reader_only' })
    const changes = collect(tableChanges({ listener: fixture.listener, pool: fixture.pool }, { ...spec, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 7, 'placed', 9.50)`)
    await received(changes, 1)
    changes.stop()
    const kept = await fixture.sql(`SELECT count(*)::int AS n FROM "${fixture.schema}".durable_log WHERE channel = 'kept-long'`)
    expect(kept).toEqual([{ n: 1 }])
  })
})

describe('what is installed', () => {
  it('is idempotent SQL: applied twice, then with fewer ops (the dropped op stops), then removed', async () => {
    const table = await ordersTable('idempotent')
    const spec = { table: table, key: ['id'], logSchema: fixture.schema } satisfies ChangeFeedSpec
    await fixture.sql(changeFeedSql(spec).install)
    await fixture.sql(changeFeedSql(spec).install)
    const fewer = { ...spec, ops: ['insert', 'delete'] } satisfies ChangeFeedSpec
    await fixture.sql(changeFeedSql(fewer).install)
    const triggers = async () => (await fixture.sql<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass ORDER BY tgname`, [table])).map((row) => row.tgname)
    expect(await triggers()).toEqual(['rxpg_changes_idempotent_delete', 'rxpg_changes_idempotent_insert'])
    const changes = collect(tableChanges(fixture.source, { ...fewer, from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1)`)
    await fixture.sql(`UPDATE ${table} SET status = 'shipped'`)
    await fixture.sql(`DELETE FROM ${table}`)
    expect((await received(changes, 2)).map((change) => change.op)).toEqual(['insert', 'delete'])
    changes.stop()
    await fixture.sql(changeFeedSql(spec).drop)
    await fixture.sql(changeFeedSql(spec).drop)
    expect(await triggers()).toEqual([])
    const leftovers = await fixture.sql(`SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relname LIKE 'rxpg_changes_idempotent%'
      UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = $1::regnamespace AND proname LIKE 'rxpg_changes_idempotent%'`, [`"${fixture.schema}"`])
    expect(leftovers).toEqual([])
  })

  it('refuses to read a feed that is not installed, or not as asked, naming the SQL to run', async () => {
    const table = await ordersTable('not_installed')
    const first = (options: Parameters<typeof tableChanges>[1]) => firstValueFrom(tableChanges(fixture.source, options)).catch((error: unknown) => error)
    expect(await first({ table })).toMatchObject({
      code: 'CHANGES_NOT_INSTALLED',
      info: { reason: 'missing', command: `npx rxpg sql changes --table ${fixture.schema}.not_installed --key id | psql -1 -v ON_ERROR_STOP=1 "$DATABASE_URL"` },
    })
    expect(await first({ table: fixture.table('nowhere') })).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'no-table' } })

    const spec = await fixture.install({ table: 'not_installed', ops: ['insert'] })
    const different = await first({ ...spec, ops: ['insert', 'delete'] })
    expect(different).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different', differences: ['ops'] } })
    expect((different as Error).message).toContain('--ops insert,delete')

    await fixture.sql(`ALTER TABLE ${table} DISABLE TRIGGER rxpg_changes_not_installed_insert`)
    expect(await first(spec)).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'disabled', disabledTriggers: ['rxpg_changes_not_installed_insert'] } })
    await fixture.sql(`ALTER TABLE ${table} ENABLE TRIGGER rxpg_changes_not_installed_insert`)
    await fixture.sql(`DROP TRIGGER rxpg_changes_not_installed_insert ON ${table}`)
    expect(await first(spec)).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'missing' } })
  })

  it('refuses a table without a primary key, and a feed whose listed column was renamed', async () => {
    const bare = fixture.table('no_key')
    await fixture.sql(`CREATE TABLE ${bare} (id int, status text)`)
    const noKey = await firstValueFrom(tableChanges(fixture.source, { table: bare })).catch((error: unknown) => error)
    expect(noKey).toMatchObject({ code: 'CHANGES_NO_PRIMARY_KEY' })
    expect((noKey as Error).message).toContain(`ALTER TABLE ${bare} ADD PRIMARY KEY`)
    await expect(fixture.install({ table: 'no_key' })).rejects.toMatchObject({ code: 'CHANGES_NO_PRIMARY_KEY' })

    const table = await ordersTable('renamed_listed')
    const spec = await fixture.install({ table: 'renamed_listed', columns: ['status'] })
    await fixture.sql(`ALTER TABLE ${table} RENAME COLUMN status TO state`)
    const renamed = await firstValueFrom(tableChanges(fixture.source, spec)).catch((error: unknown) => error)
    expect(renamed).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different', differences: ['columns'] } })
    expect((renamed as Error).message).toContain(
      'column(s) "status" named by the feed are not in the table any more (renamed or dropped): in the command, put each one\'s new name in its place (in --columns and any --when-…), or leave it out if it was dropped, and apply the SQL it prints',
    )
    // The command keeps the name rxpg cannot resolve: as it is, it fails when applied (naming the column)
    // rather than install a feed that silently no longer carries the renamed column.
    const command = (renamed as { info: { command: string } }).info.command
    expect(command).toContain('--columns status --key id')
    const printed = await rxpg(argsOf(command))
    expect(printed.code).toBe(0)
    await expect(fixture.sql(printed.stdout)).rejects.toThrow(/column "status" named by the feed is not in the table/)

    // A renamed key (the primary key's column): the command names the primary key as it is now; a renamed
    // column that is not the key keeps its old name, to be replaced.
    const keyed = await ordersTable('renamed_key')
    const keyedSpec = await fixture.install({ table: 'renamed_key', columns: ['status', 'total'] })
    await fixture.sql(`ALTER TABLE ${keyed} RENAME COLUMN id TO order_id; ALTER TABLE ${keyed} RENAME COLUMN total TO amount`)
    const renamedKey = await firstValueFrom(tableChanges(fixture.source, keyedSpec)).catch((error: unknown) => error)
    expect((renamedKey as { info: { command: string } }).info.command).toContain('--columns status,total --key order_id')
    expect((renamedKey as Error).message).toContain('column(s) "id", "total" named by the feed')

    // Only the primary key renamed: the command is whole, and applying its SQL brings the feed back.
    const onlyKey = await ordersTable('renamed_only_key')
    const onlyKeySpec = await fixture.install({ table: 'renamed_only_key', columns: ['id', 'status'] })
    await fixture.sql(`ALTER TABLE ${onlyKey} RENAME COLUMN id TO order_id`)
    const keyOnly = await firstValueFrom(tableChanges(fixture.source, onlyKeySpec)).catch((error: unknown) => error)
    expect((keyOnly as Error).message).toContain('the primary key\'s new names are in the command: apply the SQL it prints')
    expect((keyOnly as { info: { command: string } }).info.command).toContain('--columns order_id,status --key order_id')
  })

  it('is read through the durable log of its own schema only', async () => {
    await ordersTable('other_log')
    const spec = await fixture.install({ table: 'other_log' })
    const otherLog = createDurableLog({ listener: fixture.listener, pool: fixture.pool, schema: `${fixture.schema}_other` })
    const refusal = await firstValueFrom(tableChanges({ ...fixture.source, log: otherLog }, spec)).catch((error: unknown) => error)
    expect(refusal).toMatchObject({ code: 'CHANGES_INVALID_FEED' })
    expect((refusal as Error).message).toContain(`the feed writes to the durable log in schema "${fixture.schema}"`)
    await otherLog.close()
  })

  it('is refused on a partitioned table, where an UPDATE that moves a row would go unreported', async () => {
    const table = fixture.table('partitioned')
    await fixture.sql(`CREATE TABLE ${table} (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`)
    await expect(fixture.install({ table: 'partitioned' })).rejects.toThrow(/is a partitioned table/)
  })

  it('is refused under a name that another table feed has in the schema, and read only for its own table', async () => {
    const first = await ordersTable('name_owner')
    const second = await ordersTable('name_taker')
    await fixture.install({ table: 'name_owner', name: 'shared_name' })
    const taking = changeFeedSql({ table: second, name: 'shared_name', key: ['id'], logSchema: fixture.schema }).install
    await expect(fixture.sql(taking)).rejects.toThrow(/feed "shared_name" already reports changes of .*name_owner.*; feed names are unique in a schema/)
    // The owner's feed still works as installed.
    const changes = collect(tableChanges(fixture.source, { table: first, name: 'shared_name', from: 'earliest' }))
    await fixture.sql(`INSERT INTO ${second} VALUES (1, 1, 'placed', 1)`)
    await fixture.sql(`INSERT INTO ${first} VALUES (2, 1, 'placed', 1)`)
    expect(essentials(await received(changes, 1)).map((change) => change.key)).toEqual([{ id: '2' }])
    changes.stop()
    // A function taken over before this check existed: its comment names the other table.
    const comment = feedComment(resolveFeed({ table: second, name: 'shared_name', key: ['id'], logSchema: fixture.schema }))
    await fixture.sql(`COMMENT ON FUNCTION "${fixture.schema}".rxpg_changes_shared_name() IS ${quoteLiteral(comment)}`)
    const refusal = await firstValueFrom(tableChanges(fixture.source, { table: first, name: 'shared_name' })).catch((error: unknown) => error)
    expect(refusal).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different' } })
    expect((refusal as Error).message).toContain('name_taker')
  })

  it('is refused when an older rxpg installed it (another feed format: its channel may be named otherwise)', async () => {
    const table = await ordersTable('older_format')
    await fixture.install({ table: 'older_format' })
    const comment = feedComment(resolveFeed({ table, key: ['id'], logSchema: fixture.schema })).replace('"format":2', '"format":1')
    await fixture.sql(`COMMENT ON FUNCTION "${fixture.schema}".rxpg_changes_older_format() IS ${quoteLiteral(comment)}`)
    const refusal = await firstValueFrom(tableChanges(fixture.source, { table })).catch((error: unknown) => error)
    expect(refusal).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different' } })
    expect((refusal as Error).message).toContain('installed by an older rxpg (feed format 1, this rxpg reads format 2)')
  })

  it('is refused when its SQL was applied in part (the function of one spec, the triggers of another)', async () => {
    const table = await ordersTable('half_applied')
    await fixture.install({ table: 'half_applied' })
    // The row-level version's function, without its triggers: what a migration that failed half-way leaves.
    const rowLevel = changeFeedSql({ table, key: ['id'], level: 'row', logSchema: fixture.schema }).install
    await fixture.sql(rowLevel.slice(0, rowLevel.indexOf('DO $triggers')))
    const refusal = await firstValueFrom(tableChanges(fixture.source, { table })).catch((error: unknown) => error)
    expect(refusal).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different' } })
    expect((refusal as Error).message).toMatch(/rxpg_changes_half_applied_insert is a statement-level trigger; the feed's function is for row-level ones/)

    // The function of a spec with fewer ops: the triggers of the others are left calling it.
    const fewerOps = changeFeedSql({ table, key: ['id'], ops: ['update'], level: 'row', logSchema: fixture.schema }).install
    await fixture.sql(fewerOps.slice(0, fewerOps.indexOf('DO $triggers')))
    const leftover = await firstValueFrom(tableChanges(fixture.source, { table })).catch((error: unknown) => error)
    expect(leftover).toMatchObject({ code: 'CHANGES_NOT_INSTALLED', info: { reason: 'different' } })
    expect((leftover as Error).message).toMatch(/is not installed as asked \(trigger\(s\) rxpg_changes_half_applied_delete, rxpg_changes_half_applied_insert call the feed's function for ops it does not report/)
  })

  it('checks in its SQL that the key and the listed columns are in the table, before anything is changed', async () => {
    const table = await ordersTable('typo_key')
    await expect(fixture.sql(changeFeedSql({ table, key: ['idd'], logSchema: fixture.schema }).install)).rejects.toThrow(/column "idd" named by the feed is not in the table/)
    await expect(fixture.sql(changeFeedSql({ table, key: ['id'], columns: ['stauts'], logSchema: fixture.schema }).install)).rejects.toThrow(/column "stauts" named by the feed/)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 1, 'placed', 1)`) // writes go on
  })

  it('converges when switched between carriers: nothing of the other one is left', async () => {
    const table = await ordersTable('switched')
    const spec = { table, key: ['id'], logSchema: fixture.schema } satisfies ChangeFeedSpec
    await fixture.sql(changeFeedSql(spec).install)
    await fixture.sql(changeFeedSql({ table, key: ['id'], carrier: 'light' }).install)
    const sequences = await fixture.sql(`SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace AND relname = 'rxpg_changes_switched_wake'`, [`"${fixture.schema}"`])
    expect(sequences).toEqual([])
  })

  it('is checked to need the durable log installed first', async () => {
    const table = await ordersTable('no_log')
    await expect(fixture.sql(changeFeedSql({ table, key: ['id'], logSchema: `${fixture.schema}_missing` }).install)).rejects.toThrow(/durable log schema .* is not installed/)
  })
})
