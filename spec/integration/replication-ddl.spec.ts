/**
 * Schema changes behind a connection, against a real PostgreSQL with wal_level=logical. A change is decoded
 * with the table as it was when it was written, whatever happened to the table since: the stream reads its
 * catalog facts on a connection of their own, never on the WAL sender's (a query there left the WAL sender
 * with today's table definitions, which it then used for older changes: wrong values, or a server crash at
 * every START_REPLICATION).
 */
import { describe, expect, it } from 'vitest'
import { ChangeDecodeError, type Change } from '../../lib/replication/index.js'
import { eventually } from '../support/database.js'
import { collect, query, replicationFixtures, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

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
    expect(refused.map((invalid) => invalid.info.position)).toEqual([error.info.position])
    expect(got.values.map((change) => change.new)).toEqual([{ id: 2, ok: true }])
  })
})
