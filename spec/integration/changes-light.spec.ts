// Change feeds on the light carrier: each change in a NOTIFY when it fits, its key only when it does not
// (the reader reads the row, and says so), and never an error in the writer's transaction.
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { changeFeedChannel, tableChanges, type ChangeFeedSpec, type JsonRow, type TableChange } from '../../lib/changes/index.js'
import { changesFixture, received, type ChangesFixture } from '../support/changes.js'
import { collect } from '../support/listener.js'

let fixture: ChangesFixture

beforeAll(async () => {
  fixture = await changesFixture('changes_light')
})
afterAll(async () => {
  await fixture.close()
})

/** Reads a light feed, once its LISTEN is in effect (what is committed before is not delivered: at most once). */
async function reading(spec: ChangeFeedSpec) {
  const changes = collect(tableChanges(fixture.source, spec))
  await firstValueFrom(fixture.listener.listening(changeFeedChannel(spec)).pipe(filter(Boolean)))
  return changes
}

const rowOf = (change: TableChange<JsonRow> | undefined, side: 'new' | 'old') => {
  const row = change?.[side]
  return row?._tag === 'Right' ? row.right : undefined
}

describe('light feeds', () => {
  it('notify every insert, update and delete with its key and rows', async () => {
    const table = fixture.table('every_op')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, status text NOT NULL)`)
    const spec = await fixture.install({ table: 'every_op', carrier: 'light' })
    const changes = await reading(spec)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'placed'), (2, 'placed')`)
    await fixture.sql(`UPDATE ${table} SET status = 'shipped' WHERE id = 1`)
    await fixture.sql(`UPDATE ${table} SET id = 3 WHERE id = 2`)
    await fixture.sql(`DELETE FROM ${table} WHERE id = 1`)
    const all = await received(changes, 5)
    changes.stop()
    expect(all.map((change) => ({ op: change.op, key: change.key, previousKey: change.previousKey, new: rowOf(change, 'new'), old: rowOf(change, 'old') }))).toEqual([
      { op: 'insert', key: { id: 1 }, previousKey: undefined, new: { id: 1, status: 'placed' }, old: undefined },
      { op: 'insert', key: { id: 2 }, previousKey: undefined, new: { id: 2, status: 'placed' }, old: undefined },
      { op: 'update', key: { id: 1 }, previousKey: undefined, new: { id: 1, status: 'shipped' }, old: { id: 1, status: 'placed' } },
      { op: 'update', key: { id: 3 }, previousKey: { id: 2 }, new: { id: 3, status: 'placed' }, old: { id: 2, status: 'placed' } },
      { op: 'delete', key: { id: 1 }, previousKey: undefined, new: undefined, old: { id: 1, status: 'shipped' } },
    ])
    expect(all.every((change) => change.token === undefined && change.overflow === undefined && change.statementTime.getTime() > 0)).toBe(true)
  })

  it('carry only the listed columns, only the key of deleted rows with old: key, and what passes WHEN', async () => {
    const table = fixture.table('columns_when')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, status text NOT NULL, total numeric(10, 2) NOT NULL)`)
    const spec = await fixture.install({ table: 'columns_when', carrier: 'light', columns: ['status'], old: 'key', when: { insert: "NEW.status <> 'draft'", delete: 'OLD.total > 1' } })
    const changes = await reading(spec)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'draft', 5), (2, 'placed', 5), (3, 'placed', 1)`)
    await fixture.sql(`UPDATE ${table} SET status = 'shipped' WHERE id = 2`)
    await fixture.sql(`UPDATE ${table} SET total = 10 WHERE id = 2`) // no listed column changed: not reported
    await fixture.sql(`DELETE FROM ${table} WHERE id = 3; DELETE FROM ${table} WHERE id = 2`)
    await fixture.sql(`INSERT INTO ${table} VALUES (4, 'placed', 1)`) // the last change: everything before it has arrived
    const all = await received(changes, 5)
    changes.stop()
    // In commit order: a change that should have been left out would come before the last insert.
    expect(all.map((change) => ({ op: change.op, key: change.key, new: rowOf(change, 'new'), old: change.old }))).toEqual([
      { op: 'insert', key: { id: 2 }, new: { status: 'placed' }, old: undefined },
      { op: 'insert', key: { id: 3 }, new: { status: 'placed' }, old: undefined },
      { op: 'update', key: { id: 2 }, new: { status: 'shipped' }, old: undefined },
      { op: 'delete', key: { id: 2 }, new: undefined, old: undefined },
      { op: 'insert', key: { id: 4 }, new: { status: 'placed' }, old: undefined },
    ])
  })

  it('send only the key of a change over 7999 bytes: the reader reads the row (fetched), or says it is gone', async () => {
    const table = fixture.table('overflow')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`)
    const spec = await fixture.install({ table: 'overflow', carrier: 'light' })
    const changes = await reading(spec)
    // 8,001 bytes of body alone: with the envelope, the change cannot be a notification.
    const big = 'é'.repeat(4000) + 'x'
    // Each write waits for the change before it: a change's row is read when its notification arrives.
    await fixture.sql(`INSERT INTO ${table} VALUES (1, $1)`, [big])
    await received(changes, 1)
    await fixture.sql(`UPDATE ${table} SET body = $1 || 'y' WHERE id = 1`, [big])
    await received(changes, 2)
    await fixture.sql(`BEGIN; INSERT INTO ${table} VALUES (2, '${big}'); DELETE FROM ${table} WHERE id = 2; COMMIT`)
    await fixture.sql(`DELETE FROM ${table} WHERE id = 1`)
    await fixture.sql(`INSERT INTO ${table} VALUES (3, 'small')`)
    const all = await received(changes, 6)
    changes.stop()
    expect(all.map((change) => [change.op, change.key.id, change.overflow])).toEqual([
      ['insert', 1, 'fetched'],
      ['update', 1, 'fetched'],
      ['insert', 2, 'gone'], // deleted in the same transaction: nothing to read
      ['delete', 2, 'gone'],
      ['delete', 1, 'gone'],
      ['insert', 3, undefined],
    ])
    expect(rowOf(all[0], 'new')).toEqual({ id: 1, body: big })
    expect(rowOf(all[1], 'new')).toEqual({ id: 1, body: `${big}y` })
    expect(all[1]?.old).toBeUndefined()
  })

  it('send only the operation when even the key is over 7999 bytes', async () => {
    const table = fixture.table('huge_key')
    await fixture.sql(`CREATE TABLE ${table} (name text PRIMARY KEY)`)
    const spec = await fixture.install({ table: 'huge_key', carrier: 'light' })
    const changes = await reading(spec)
    await fixture.sql(`INSERT INTO ${table} VALUES (repeat('k', 9000))`) // compressible: the index takes it
    const [change] = await received(changes, 1)
    changes.stop()
    expect(change).toMatchObject({ op: 'insert', key: {}, overflow: 'no-key' })
    expect(change?.new).toBeUndefined()
  })

  it('refuses `from`, which only durable feeds have', async () => {
    const table = fixture.table('no_from')
    await fixture.sql(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const spec = await fixture.install({ table: 'no_from', carrier: 'light' })
    expect(() => tableChanges(fixture.source, { ...spec, from: 'earliest' })).toThrow(/durable feeds only/)
    const { carrier: _carrier, ...unstated } = spec
    await expect(firstValueFrom(tableChanges(fixture.source, { ...unstated, from: 'earliest' }))).rejects.toMatchObject({ code: 'CHANGES_INVALID_FEED' })
  })
})
