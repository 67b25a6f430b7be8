// An application that changed pg's parsers for the whole process (json and jsonb kept as text, booleans as
// pg's 't'/'f'), as apps that store JSON text do. rxpg's own catalog queries read what they asked for whatever
// the app set: with json kept as text, every change feed failed at once (`facts.triggers.some is not a
// function`), and with jsonb kept as text a change stream refused a good slot as "not a pgoutput slot".
import pg from 'pg'
import { filter, firstValueFrom, take } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tableChanges } from '../../lib/changes/index.js'
import { changeStream, dropReplication, ensureReplication, isCheckpoint, readSlotStatus, type Change } from '../../lib/replication/index.js'
import { changesFixture, type ChangesFixture } from '../support/changes.js'
import { query, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

const keptAsText = (text: string) => text
const overridden = [pg.types.builtins.JSON, pg.types.builtins.JSONB, pg.types.builtins.BOOL]
const defaults = new Map(overridden.map((oid) => [oid, pg.types.getTypeParser(oid)]))

let fixture: ChangesFixture
let logicalUrl = ''
useLogicalServer((server) => (logicalUrl = server.url))
beforeAll(async () => {
  fixture = await changesFixture('global_parsers')
  for (const oid of overridden) pg.types.setTypeParser(oid, keptAsText)
})
afterAll(async () => {
  for (const [oid, parser] of defaults) pg.types.setTypeParser(oid, parser as (text: string) => unknown)
  await fixture?.close()
})

describe('with pg parsers changed for the whole process', () => {
  it('reads a durable change feed', async () => {
    const table = fixture.table('parsed')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, doc jsonb, done boolean)`)
    const spec = await fixture.install({ table: 'parsed' })
    await fixture.sql(`INSERT INTO ${table} VALUES (1, '{"a": 1}', true)`)
    // From earliest: the insert is read from the log, with no wait for the feed to be listening first.
    const first = firstValueFrom(tableChanges(fixture.source, { ...spec, from: 'earliest' }).pipe(take(1)))
    expect(await first).toMatchObject({ op: 'insert', key: { id: '1' }, new: { _tag: 'Right', right: { id: '1', doc: { a: 1 }, done: true } } })
  })

  it('starts a change stream on a pgoutput slot, and reads its status', async () => {
    const table = uniqueName('parsed')
    await query(logicalUrl, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await ensureReplication(logicalUrl, { ...names, tables: [table] })
    const stream = changeStream(logicalUrl, { ...names, tables: [table] })
    try {
      const first = firstValueFrom(stream.changes$)
      await stateOf(stream, 'connected')
      await query(logicalUrl, `INSERT INTO ${table} VALUES (7)`)
      const change = await first
      expect(isCheckpoint(change) ? change : (change as Change)).toMatchObject({ op: 'insert', new: { id: 7 } })
      // Read from the slot's row as json: kept as text, every field was missing (confirmedLsn '0/0'). (wal_status
      // is PostgreSQL 13+.)
      expect(await readSlotStatus(logicalUrl, names.slot)).toMatchObject({ slot: names.slot, confirmedLsn: expect.not.stringMatching(/^0\/0$/) })
    } finally {
      await stream.close()
      await dropReplication(logicalUrl, names)
    }
  })

  it('sets up replication, streams and resumes, and drops it, whatever text and integers are parsed as', async () => {
    // The set-up's own checks read wal_level, the server version, the role's privileges: with an application's
    // text parser they read 'app:logical', and a good server was refused ("wal_level is app:logical"). The
    // stream's tokens name the server by its system id, which must not depend on the parsers either.
    const table = uniqueName('parsed')
    await query(logicalUrl, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const textAndIntegers = [pg.types.builtins.TEXT, pg.types.builtins.INT4]
    const before = textAndIntegers.map((oid) => [oid, pg.types.getTypeParser(oid)] as const)
    let position: string
    for (const oid of textAndIntegers) pg.types.setTypeParser(oid, (text: string) => `app:${text}`)
    try {
      await ensureReplication(logicalUrl, { ...names, tables: [table] })
      const stream = changeStream(logicalUrl, { ...names, tables: [table] })
      try {
        const first = firstValueFrom(stream.changes$.pipe(filter((item) => !isCheckpoint(item))))
        await stateOf(stream, 'connected')
        await query(logicalUrl, `INSERT INTO ${table} VALUES (7)`)
        const change = (await first) as Change
        // The rows are the application's: read with its parsers.
        expect(change.new).toEqual({ id: 'app:7' })
        position = change.position
      } finally {
        await stream.close()
      }
    } finally {
      for (const [oid, parser] of before) pg.types.setTypeParser(oid, parser as (text: string) => unknown)
    }
    const resumed = changeStream(logicalUrl, { ...names, tables: [table], resumeAfter: position })
    try {
      const next = firstValueFrom(resumed.changes$.pipe(filter((item) => !isCheckpoint(item))))
      await stateOf(resumed, 'connected')
      await query(logicalUrl, `INSERT INTO ${table} VALUES (8)`)
      expect(((await next) as Change).new).toEqual({ id: 8 })
    } finally {
      await resumed.close()
    }
    await dropReplication(logicalUrl, names)
    expect(await query(logicalUrl, 'SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [names.slot])).toEqual([{ n: 0 }])
  })
})
