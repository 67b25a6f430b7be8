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
import { collect, query, serverMajor, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

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

/**
 * A table partitioned by range with one partition; returns the table's name and the partition's. With a primary
 * key (a replica identity) unless `keyless`.
 */
async function partitionedTable(options: { keyless?: boolean } = {}): Promise<[string, string]> {
  const name = uniqueName('measure')
  await query(url, `CREATE TABLE ${name} (id int, at date, value int${options.keyless ? '' : ', PRIMARY KEY (id, at)'}) PARTITION BY RANGE (at)`)
  await query(url, `CREATE TABLE ${name}_2024 PARTITION OF ${name} FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`)
  return [name, `${name}_2024`]
}

describe('replication set-up', () => {
  it('creates the publication and the slot from replicationSetupSql, statement after statement as its text says', async () => {
    const table = uniqueName('t')
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const modern = (await serverMajor(url)) >= 13
    // A partitioned table's changes come named after it (publish_via_partition_root), on PostgreSQL 13+.
    const [measure] = modern ? await partitionedTable() : []
    const sql = replicationSetupSql({ ...names, tables: measure === undefined ? [table] : [table, measure] })
    expect(sql).toContain(' WITH (publish_via_partition_root = true);')
    expect(sql).toMatch(/PostgreSQL 12.*leave out the WITH clause/)
    for (const statement of sql.split('\n').filter((line) => line !== '' && !line.startsWith('--'))) {
      await query(url, modern ? statement : statement.replace(' WITH (publish_via_partition_root = true)', ''))
    }
    const stream = changeStream(url, { ...names })
    try {
      const changes = collect(stream.changes$)
      await stateOf(stream, 'connected')
      await query(url, `INSERT INTO ${table} VALUES (1)`)
      if (measure !== undefined) await query(url, `INSERT INTO ${measure} VALUES (2, '2024-06-01', 5)`)
      await eventually(() => changes.values.length === (modern ? 2 : 1), () => 'nothing received')
      expect(changes.values.map((change) => [change.table, change.new])).toEqual([
        [table, { id: 1 }],
        ...(measure === undefined ? [] : [[measure, { id: 2, at: new Date(2024, 5, 1), value: 5 }]]),
      ])
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

  // A backslash made the publication's name an escape string (E'…'), which the replication command grammar does
  // not have: START_REPLICATION was a syntax error, retried for ever as a lost connection.
  it.each(['pub\\bs', "pub'q", 'pub"dq', 'pub, two'])('streams from a publication named %j', async (odd) => {
    const table = uniqueName('odd')
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: `${uniqueName('p')}_${odd}` }
    await ensureReplication(url, { ...names, tables: [table] })
    const stream = changeStream(url, { ...names, tables: [table], checkpoints: false })
    try {
      const changes = collect(stream.changes$)
      await stateOf(stream, 'connected')
      await query(url, `INSERT INTO ${table} VALUES (1)`)
      await eventually(() => changes.values.length === 1, () => 'the insert')
      expect(changes.values[0]).toMatchObject({ op: 'insert', new: { id: 1 } })
    } finally {
      await stream.close()
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
    ['a slot that does not exist', 'slot-missing', async ({ publication, table }) => void (await query(url, `CREATE PUBLICATION ${publication} FOR TABLE ${table}`)), /pg_create_logical_replication_slot.*A slot created again after one was dropped starts at the server's current position/],
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

  it('publishes a partitioned table under its own name (PostgreSQL 13+), ensureReplication staying idempotent; on 12 says 13 is needed', async () => {
    const [measure] = await partitionedTable()
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    try {
      if ((await serverMajor(url)) < 13) {
        const error = await ensureReplication(url, { ...names, tables: [measure] }).catch((caught: unknown) => caught)
        expect(error).toBeInstanceOf(ReplicationSetupError)
        expect((error as ReplicationSetupError).info).toMatchObject({ reason: 'partitioned-table-unsupported', table: `public.${measure}` })
        expect((error as ReplicationSetupError).message).toMatch(/PostgreSQL 13/)
        return
      }
      expect(await ensureReplication(url, { ...names, tables: [measure] })).toEqual({ createdPublication: true, addedTables: [], createdSlot: true })
      expect(await ensureReplication(url, { ...names, tables: [measure] })).toEqual({ createdPublication: false, addedTables: [], createdSlot: false })
      for (const [index, tables] of [[measure], undefined].entries()) {
        const stream = changeStream(url, { ...names, checkpoints: false, ...(tables === undefined ? {} : { tables }) })
        try {
          const changes = collect(stream.changes$)
          await stateOf(stream, 'connected')
          await query(url, `INSERT INTO ${measure} VALUES ($1, '2024-06-01', 5)`, [index])
          await eventually(() => changes.values.length === 1, () => 'nothing received')
          expect(changes.values[0]).toMatchObject({ op: 'insert', schema: 'public', table: measure, new: { id: index, value: 5 } })
          stream.ack((changes.values[0] as Change).position)
        } finally {
          await stream.close()
        }
      }
    } finally {
      await dropReplication(url, names)
    }
  })

  it('fails with a typed error naming publish_via_partition_root for a partitioned table of a publication without it', async (context) => {
    if ((await serverMajor(url)) < 13) {
      context.skip('PostgreSQL 12 cannot publish a partitioned table, nor has publish_via_partition_root (13+)')
      return
    }
    const [measure] = await partitionedTable()
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await query(url, `CREATE PUBLICATION ${names.publication} FOR TABLE ${measure}`)
    try {
      const helper = await ensureReplication(url, { ...names, tables: [measure] }).catch((error: unknown) => error)
      expect(helper).toBeInstanceOf(ReplicationSetupError)
      const fix = `ALTER PUBLICATION "${names.publication}" SET (publish_via_partition_root = true)`
      expect((helper as ReplicationSetupError).info).toMatchObject({ reason: 'publish-via-partition-root-off', table: `public.${measure}` })
      expect((helper as ReplicationSetupError).message).toContain(fix)
      await query(url, `SELECT pg_create_logical_replication_slot('${names.slot}', 'pgoutput')`)
      const error = await failureOf(url, { ...names, tables: [measure] })
      expect(error.info).toMatchObject({ reason: 'publish-via-partition-root-off', table: `public.${measure}` })
      expect(error.message).toContain(fix)
      // The fix the message gives works.
      await query(url, fix)
      expect(await ensureReplication(url, { ...names, tables: [measure] })).toEqual({ createdPublication: false, addedTables: [], createdSlot: false })
    } finally {
      await dropReplication(url, names)
    }
  })

  it('fails with partitioned-table-unsupported on PostgreSQL 12 for a partitioned table in tables', async (context) => {
    if ((await serverMajor(url)) >= 13) {
      context.skip('PostgreSQL 13+ publishes partitioned tables')
      return
    }
    const [measure, partition] = await partitionedTable()
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    await ensureReplication(url, { ...names, tables: [partition] })
    try {
      const error = await failureOf(url, { ...names, tables: [measure] })
      expect(error.info).toMatchObject({ reason: 'partitioned-table-unsupported', table: `public.${measure}` })
      expect(error.message).toMatch(/PostgreSQL 13/)
    } finally {
      await dropReplication(url, names)
    }
  })

  it('ensureReplication fails with table-missing for a table that does not exist, creating nothing', async () => {
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    try {
      const error = await ensureReplication(url, { ...names, tables: ['no_such_table'] }).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(ReplicationSetupError)
      expect((error as ReplicationSetupError).info).toMatchObject({ reason: 'table-missing', table: 'public.no_such_table' })
      expect((error as ReplicationSetupError).message).toMatch(/does not exist/)
      expect(await query(url, `SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2`, [names.publication, names.slot])).toEqual([])
    } finally {
      await dropReplication(url, names)
    }
  })

  // Once a table is published, PostgreSQL refuses every UPDATE and DELETE on it (55000) unless it has a replica
  // identity: the writers would break the moment the publication names it.
  it('ensureReplication fails with replica-identity-missing for a table without a primary key, creating nothing; REPLICA IDENTITY FULL passes', async () => {
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const bare = uniqueName('events')
    await query(url, `CREATE TABLE ${bare} (id int, body text)`)
    // A partitioned table is published (under its own name) from PostgreSQL 13; its partitions need the identity.
    const keyless: Array<[string, string]> = (await serverMajor(url)) >= 13 ? [await partitionedTable({ keyless: true })] : []
    try {
      for (const [table, reported] of [[bare, bare] as [string, string], ...keyless]) {
        const error = await ensureReplication(url, { ...names, tables: [table] }).catch((caught: unknown) => caught)
        expect(error).toBeInstanceOf(ReplicationSetupError)
        expect((error as ReplicationSetupError).info).toMatchObject({ reason: 'replica-identity-missing', table: `public.${reported}` })
        expect((error as ReplicationSetupError).message).toMatch(/every UPDATE and DELETE on it fails/)
        expect((error as ReplicationSetupError).message).toMatch(/primary key|REPLICA IDENTITY FULL/)
        expect(await query(url, `SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2`, [names.publication, names.slot])).toEqual([])
      }
      // FOR ALL TABLES would publish it too (and any other table without one in this database).
      const all = await ensureReplication(url, { ...names, tables: 'all' }).catch((caught: unknown) => caught)
      expect((all as ReplicationSetupError).info).toMatchObject({ reason: 'replica-identity-missing', detail: expect.stringMatching(/REPLICA IDENTITY/) })
      expect(await query(url, `SELECT 1 FROM pg_publication WHERE pubname = $1`, [names.publication])).toEqual([])
      await query(url, `ALTER TABLE ${bare} REPLICA IDENTITY FULL`)
      expect(await ensureReplication(url, { ...names, tables: [bare] })).toMatchObject({ createdPublication: true, createdSlot: true })
      await query(url, `UPDATE ${bare} SET body = 'x'`)
    } finally {
      await dropReplication(url, names)
    }
    expect(replicationSetupSql({ ...names, tables: [bare] })).toMatch(/-- Each published table needs a replica identity/)
  })

  it('ensureReplication fails with replication-privilege for a role without REPLICATION before creating anything, and with publication-privilege for one that may not publish the table', async () => {
    const table = uniqueName('t')
    const owner = uniqueName('owner')
    const replicator = uniqueName('replicator')
    const createOnDatabase = (role: string) => `DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO ${role}', current_database()); END $$`
    await query(url, `CREATE TABLE ${table} (id int PRIMARY KEY); CREATE ROLE ${owner} LOGIN PASSWORD 'pw'; ALTER TABLE ${table} OWNER TO ${owner}; ${createOnDatabase(owner)}`)
    await query(url, `CREATE ROLE ${replicator} LOGIN REPLICATION PASSWORD 'pw'; ${createOnDatabase(replicator)}`)
    const as = (role: string) => url.replace(/\/\/[^@]*@/, `//${role}:pw@`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    const leftBehind = () => query(url, `SELECT 1 FROM pg_publication WHERE pubname = $1 UNION ALL SELECT 1 FROM pg_replication_slots WHERE slot_name = $2`, [names.publication, names.slot])
    try {
      // The table's owner may publish it, but not create the slot: it used to create the publication, then fail
      // with pg's raw 42501 and leave it behind.
      const noReplication = await ensureReplication(as(owner), { ...names, tables: [table] }).catch((caught: unknown) => caught)
      expect(noReplication).toBeInstanceOf(ReplicationSetupError)
      expect((noReplication as ReplicationSetupError).info).toMatchObject({ reason: 'replication-privilege' })
      expect(await leftBehind()).toEqual([])
      // A role with REPLICATION that does not own the table may create the slot, not publish the table.
      const notOwner = await ensureReplication(as(replicator), { ...names, tables: [table] }).catch((caught: unknown) => caught)
      expect(notOwner).toBeInstanceOf(ReplicationSetupError)
      expect((notOwner as ReplicationSetupError).info).toMatchObject({ reason: 'publication-privilege', sqlState: '42501' })
      expect((notOwner as ReplicationSetupError).message).toMatch(/owns the tables/)
      expect(await leftBehind()).toEqual([])
      // Set up by the superuser, dropped by the replicator, who may drop the slot but not the publication:
      // refused before anything is dropped (it used to drop the slot, the stream's position, then fail).
      await ensureReplication(url, { ...names, tables: [table] })
      const drop = await dropReplication(as(replicator), names).catch((caught: unknown) => caught)
      expect(drop).toBeInstanceOf(ReplicationSetupError)
      expect((drop as ReplicationSetupError).info.reason).toBe('publication-privilege')
      expect(await leftBehind()).toHaveLength(2)
    } finally {
      await dropReplication(url, names)
    }
  })

  // Quoted names were refused ("write schema.table unquoted"), and a table in a schema whose name holds a dot
  // could not be named at all. Double quotes are now read as SQL reads them; a name that would read differently
  // as spelled and as SQL ("Sales".Orders: Orders or orders?) is refused at once.
  it('reads a double-quoted table name as SQL does, and refuses one whose unquoted part SQL would fold, at once', async () => {
    const schema = uniqueName('Sales')
    await query(url, `CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}"."Orders" (id int PRIMARY KEY)`)
    const names = { slot: uniqueName('slot'), publication: uniqueName('pub') }
    try {
      expect(await ensureReplication(url, { ...names, tables: [`"${schema}"."Orders"`] })).toMatchObject({ createdPublication: true })
      expect(await ensureReplication(url, { ...names, tables: [`${schema}.Orders`] })).toEqual({ createdPublication: false, addedTables: [], createdSlot: false })
      const attempts: Array<() => unknown> = [
        () => replicationSetupSql({ ...names, tables: [`"${schema}".Orders`] }),
        () => ensureReplication(url, { ...names, tables: [`"${schema}".Orders`] }),
      ]
      for (const attempt of attempts) {
        const error = await Promise.resolve()
          .then(attempt)
          .catch((caught: unknown) => caught)
        expect(error).toBeInstanceOf(ReplicationSetupError)
        expect((error as ReplicationSetupError).info.reason).toBe('invalid-name')
        expect((error as ReplicationSetupError).message).toContain(`write '"${schema}"."Orders"' for Orders, or '"${schema}".orders' for orders`)
      }
    } finally {
      await dropReplication(url, names)
    }
  })

  it('refuses an invalid slot name at once', () => {
    expect(() => changeStream(url, { slot: 'Not-A-Slot', publication: 'p' })).toThrow(ReplicationSetupError)
  })
})
