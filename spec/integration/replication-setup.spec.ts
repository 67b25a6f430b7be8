/**
 * Setting up a change stream, and what it says when something is missing: the SQL for a migration, the
 * development helper, and a typed error naming the fix for a server without wal_level=logical, a role
 * without REPLICATION, a missing publication, slot or published table.
 */
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import {
  ReplicationSetupError,
  changeStream,
  dropReplication,
  ensureReplication,
  replicationSetupSql,
  type Change,
  type ReplicationSetupReason,
} from '../../lib/replication/index.js'
import { databaseUrl, eventually } from '../support/database.js'
import { collect, query, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

async function failureOf(config: string | pg.ClientConfig, options: { slot: string; publication: string; tables?: string[] }): Promise<ReplicationSetupError> {
  const stream = changeStream(config, { ...options, checkpoints: false })
  stream.changes$.subscribe({ error: () => undefined })
  try {
    const failed = await stateOf(stream, 'failed')
    expect(failed.error).toBeInstanceOf(ReplicationSetupError)
    return failed.error as ReplicationSetupError
  } finally {
    await stream.close()
  }
}

describe('replication set-up', () => {
  it('creates the publication and the slot from replicationSetupSql, statement after statement as its text says', async () => {
    const table = uniqueName('t')
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const sql = replicationSetupSql({ ...names, tables: [table] })
    for (const statement of sql.split('\n').filter((line) => line !== '' && !line.startsWith('--'))) await query(url, statement)
    const stream = changeStream(url, { ...names })
    try {
      const changes = collect(stream.changes$)
      await stateOf(stream, 'connected')
      await query(url, `INSERT INTO ${table} VALUES (1)`)
      await eventually(() => changes.values.length === 1, () => 'nothing received')
      expect((changes.values[0] as Change).new).toEqual({ id: 1 })
    } finally {
      await stream.close()
      await dropReplication(url, names)
    }
  })

  it('ensureReplication creates what is missing, adds tables to an existing publication, and is idempotent', async () => {
    const [first, second] = [uniqueName('t'), uniqueName('t')]
    await query(url, `CREATE TABLE ${first} (id int PRIMARY KEY)`)
    await query(url, `CREATE TABLE ${second} (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    try {
      expect(await ensureReplication(url, { ...names, tables: [first] })).toEqual({ createdPublication: true, addedTables: [], createdSlot: true })
      expect(await ensureReplication(url, { ...names, tables: [first, second] })).toEqual({ createdPublication: false, addedTables: [`public.${second}`], createdSlot: false })
      expect(await ensureReplication(url, { ...names, tables: [first, second] })).toEqual({ createdPublication: false, addedTables: [], createdSlot: false })
    } finally {
      await dropReplication(url, names)
    }
  })

  it('fails with wal-level on a server that cannot decode its WAL, saying how to fix it', async () => {
    // The shared test server runs with wal_level=replica.
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const helper = await ensureReplication(databaseUrl(), { ...names, tables: ['whatever'] }).catch((error: unknown) => error)
    expect(helper).toBeInstanceOf(ReplicationSetupError)
    expect((helper as ReplicationSetupError).info).toMatchObject({ reason: 'wal-level', found: 'replica' })
    const error = await failureOf(databaseUrl(), names)
    expect(error.info).toMatchObject({ reason: 'wal-level', found: 'replica' })
    expect(error.message).toContain('ALTER SYSTEM SET wal_level = logical')
  })

  it('fails with replication-privilege for a role without REPLICATION, without ever showing its password', async () => {
    const role = uniqueName('app')
    const password = 'role-secret-' + role
    await query(url, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const asRole = url.replace(/\/\/[^@]*@/, `//${role}:${password}@`)
    const error = await failureOf(asRole, names)
    expect(error.info).toMatchObject({ reason: 'replication-privilege', sqlState: '42501' })
    expect(error.message).toContain('ALTER ROLE <role> REPLICATION')
    expect(JSON.stringify(error.info) + error.message + String(error.stack) + String((error.cause as Error | undefined)?.message)).not.toContain(password)
  })

  const missing: Array<[string, ReplicationSetupReason, (names: { slot: string; publication: string; table: string }) => Promise<void>, RegExp]> = [
    ['a publication that does not exist', 'publication-missing', async ({ slot }) => void (await query(url, `SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`)), /replicationSetupSql/],
    ['a slot that does not exist', 'slot-missing', async ({ publication, table }) => void (await query(url, `CREATE PUBLICATION ${publication} FOR TABLE ${table}`)), /pg_create_logical_replication_slot/],
  ]
  for (const [what, reason, prepare, fix] of missing) {
    it(`fails with ${reason} for ${what}`, async () => {
      const table = uniqueName('t')
      await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
      const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
      await prepare({ ...names, table })
      try {
        const error = await failureOf(url, names)
        expect(error.info.reason).toBe(reason)
        expect(error.message).toMatch(fix)
      } finally {
        await dropReplication(url, names)
      }
    })
  }

  it('fails with table-not-published for a table the publication does not have', async () => {
    const [published, unpublished] = [uniqueName('t'), uniqueName('t')]
    await query(url, `CREATE TABLE ${published} (id int PRIMARY KEY)`)
    await query(url, `CREATE TABLE ${unpublished} (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await ensureReplication(url, { ...names, tables: [published] })
    try {
      const error = await failureOf(url, { ...names, tables: [published, unpublished] })
      expect(error.info).toMatchObject({ reason: 'table-not-published', table: `public.${unpublished}` })
    } finally {
      await dropReplication(url, names)
    }
  })

  it('refuses an invalid slot name at once', () => {
    expect(() => changeStream(url, { slot: 'Not-A-Slot', publication: 'p' })).toThrow(ReplicationSetupError)
  })
})
