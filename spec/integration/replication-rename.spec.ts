/**
 * A watched table renamed under a running change stream, against a real PostgreSQL with wal_level=logical. The
 * server decodes each change with the table's name as of that change, so the changes written under the new name
 * came under a name the stream did not watch: they were left out, and the checkpoints after them acknowledged
 * them away before the publication check failed the stream (a new user's trial lost an insert that way). The
 * stream now follows a watched table by its identity (its OID, read with the name at each start and check): its
 * changes come under the name it was given, whatever it is called meanwhile.
 */
import { describe, expect, it } from 'vitest'
import { isCheckpoint, ReplicationSetupError, type Change } from '../../lib/replication/index.js'
import { eventually } from '../support/database.js'
import { collect, query, replicationFixtures, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const { setup, open } = replicationFixtures(() => url)

const ids = (changes: readonly Change[]) => changes.map((change) => (change.op === 'insert' ? (change.new as { id: number }).id : undefined))

describe('replication: a watched table renamed while the stream runs', () => {
  it('delivers the changes written under another name, under the name it watches, in order', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    const stream = open(names, { tables: [table], recheckInterval: false })
    const seen = collect(stream.changes$)
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await eventually(() => seen.values.length === 1, () => 'the first change never came')
    await query(url, `ALTER TABLE ${table} RENAME TO ${table}_tmp`)
    await query(url, `INSERT INTO ${table}_tmp VALUES (2); INSERT INTO ${table}_tmp VALUES (3)`)
    await query(url, `ALTER TABLE ${table}_tmp RENAME TO ${table}`)
    await query(url, `INSERT INTO ${table} VALUES (4)`)
    await eventually(() => seen.values.length >= 4, () => `came: ${JSON.stringify(ids(seen.values))}`)
    expect(ids(seen.values)).toEqual([1, 2, 3, 4])
    expect(new Set(seen.values.map((change) => `${change.schema}.${change.table}`))).toEqual(new Set([`public.${table}`]))
    expect(seen.errors).toEqual([])
  })

  it('fails at the check when the name stays gone; resumed after the last item seen under the new name, nothing is lost', async () => {
    const table = uniqueName('t')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = await setup([table])
    const stream = open(names, { tables: [table], recheckInterval: 300, checkpoints: true })
    const seen = collect(stream.changes$, { checkpoints: true })
    await query(url, `INSERT INTO ${table} VALUES (1)`)
    await eventually(() => seen.values.some((item) => !isCheckpoint(item)), () => 'the first change never came')
    await query(url, `ALTER TABLE ${table} RENAME TO ${table}_new`)
    await query(url, `INSERT INTO ${table}_new VALUES (2)`)
    await eventually(() => seen.errors.length > 0, () => 'the check never failed the stream', 10_000)
    expect(seen.errors[0]).toBeInstanceOf(ReplicationSetupError)
    expect((seen.errors[0] as ReplicationSetupError).info).toMatchObject({ reason: 'table-missing', table: `public.${table}` })
    const changes = seen.values.filter((item): item is Change => !isCheckpoint(item))
    expect(ids(changes)).toEqual([1, 2])
    // What an application that acknowledges everything it saw would resume after.
    const last = seen.values.at(-1) as Change
    const resumed = collect(open(names, { tables: [`${table}_new`], resumeAfter: last.position }).changes$)
    await query(url, `INSERT INTO ${table}_new VALUES (3)`)
    await eventually(() => resumed.values.length >= 1, () => 'the resumed stream delivered nothing')
    expect(ids(resumed.values)).toEqual([3])
    expect(resumed.values[0]?.table).toBe(`${table}_new`)
  })
})
