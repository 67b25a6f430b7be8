/**
 * What a change stream delivers, against a real PostgreSQL with wal_level=logical: every operation, the
 * common types (parsed exactly as a query gives them), unchanged TOAST values, TRUNCATE, multi-row statements
 * and COPY (many changes on one LSN), rollbacks (never delivered), commit order, typed decoding and grouping
 * by transaction.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import postgres from 'postgres'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  ChangeDecodeError,
  changeStream,
  dropReplication,
  ensureReplication,
  transactionStream,
  type Change,
  type ChangeStreamOptions,
  type ReplicationStream,
} from '../../lib/replication/index.js'
import { formatLsn } from '../../lib/replication/lsn.js'
import { decodeToken } from '../../lib/replication/position.js'
import { eventually } from '../support/database.js'
import { collect, query, serverMajor, stateOf, uniqueName, useLogicalServer } from '../support/replication.js'

let url = ''
useLogicalServer((server) => (url = server.url))

const open: Array<{ stream: ReplicationStream; slot: string; publication: string }> = []
afterEach(async () => {
  for (const { stream, slot, publication } of open.splice(0)) {
    await stream.close()
    await dropReplication(url, { slot, publication })
  }
})

/** A table of its own, published, with a slot created before anything is written to it. */
async function table(definition: string): Promise<string> {
  const name = uniqueName('t')
  await query(url, `CREATE TABLE ${name} ${definition}`)
  return name
}

async function feed(tables: string[], options: Partial<ChangeStreamOptions> = {}) {
  const slot = uniqueName('slot')
  const publication = uniqueName('pub')
  await ensureReplication(url, { slot, publication, tables })
  const stream = changeStream(url, { slot, publication, checkpoints: false, ...options })
  open.push({ stream, slot, publication })
  return stream
}

async function received<T>(items: { values: T[] }, count: number): Promise<T[]> {
  await eventually(() => items.values.length >= count, () => `received ${items.values.length} of ${count}`)
  return items.values
}

describe('replication: operations and values', () => {
  it('delivers inserts with every common type parsed as a query returns it', async () => {
    await query(url, `DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'happy'); EXCEPTION WHEN duplicate_object THEN NULL; END $$`)
    const name = await table(`(
      id int PRIMARY KEY, small int2, big int8, num numeric, real4 float4, dbl float8, flag bool, txt text, vc varchar(10), ch char(3),
      bin bytea, day date, ts timestamp, tstz timestamptz, tm time, span interval, uid uuid, js json, jsb jsonb, ints int4[], texts text[],
      addr inet, feeling mood, nothing text)`)
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(
      url,
      `INSERT INTO ${name} VALUES (1, -32768, 9007199254740993, 12345678901234567890.123456789, 1.5, 2.25, true, 'héllo "wörld" ✓', 'short', 'ab',
        '\\x00ff10', '2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+02', '23:59:59', '1 year 2 days 03:04:05', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        '{"a": [1, 2]}', '{"b": {"c": null}}', '{1,2,3}', '{"x","y z"}', '192.168.0.1/24', 'happy', NULL)`,
    )
    const [change] = await received(changes, 1)
    const [row] = await query(url, `SELECT * FROM ${name}`)
    expect(change).toMatchObject({ op: 'insert', schema: 'public', table: name, lastInTransaction: true })
    expect(change?.new).toEqual(row)
    expect(change?.commitTime).toBeInstanceOf(Date)
    expect(typeof change?.xid).toBe('number')
  })

  it("parses with the connection config's types, and with parsers registered on pg, the commonest types too", async () => {
    const name = await table('(id int PRIMARY KEY, small int2, big int8, txt text, vc varchar(5), ch char(2), o oid)')
    const custom = (oid: number) =>
      [21, 23, 26].includes(oid) ? (text: string) => `int:${text}` : oid === 20 ? (text: string) => BigInt(text) : [25, 1043, 1042].includes(oid) ? (text: string) => text.toUpperCase() : undefined
    const types = { getTypeParser: (oid: number, format?: string) => custom(oid) ?? pg.types.getTypeParser(oid, format as 'text') }
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [name] })
    const configured = changeStream({ connectionString: url, types } as pg.ClientConfig, { slot, publication, checkpoints: false })
    open.push({ stream: configured, slot, publication })
    const changes = collect(configured.changes$)
    await stateOf(configured, 'connected')
    await query(url, `INSERT INTO ${name} VALUES (-7, -32768, -9007199254740993, 'héllo', 'abc', 'x', 4294967295)`)
    const [change] = await received(changes, 1)
    expect(change?.new).toEqual({ id: 'int:-7', small: 'int:-32768', big: -9007199254740993n, txt: 'HÉLLO', vc: 'ABC', ch: 'X ', o: 'int:4294967295' })

    // Registered on pg itself (the default for a config without types): read with them too. Types rxpg's own
    // queries do not read (a text parser registered globally would change what they read as well).
    const original = { int2: pg.types.getTypeParser(21, 'text'), bpchar: pg.types.getTypeParser(1042, 'text') }
    pg.types.setTypeParser(21, (text) => `int2:${text}`)
    pg.types.setTypeParser(1042, (text) => `bpchar:${text}`)
    try {
      const registered = await feed([name])
      const later = collect(registered.changes$)
      await stateOf(registered, 'connected')
      await query(url, `INSERT INTO ${name} (id, small, ch) VALUES (8, 12, 'y')`)
      const [registeredChange] = await received(later, 1)
      expect(registeredChange?.new).toEqual({ id: 8, small: 'int2:12', big: null, txt: null, vc: null, ch: 'bpchar:y ', o: null })
    } finally {
      pg.types.setTypeParser(21, original.int2)
      pg.types.setTypeParser(1042, original.bpchar)
    }
  })

  it('parses domain-typed columns by their base type (domains over domains too), as a query returns them', async () => {
    // pgoutput names a column's own type, the domain; a query's row description names the domain's base type.
    const d = uniqueName('dom')
    await query(
      url,
      `CREATE DOMAIN ${d}_qty AS integer; CREATE DOMAIN ${d}_flag AS boolean; CREATE DOMAIN ${d}_doc AS jsonb;
       CREATE DOMAIN ${d}_at AS timestamptz; CREATE DOMAIN ${d}_amount AS numeric(12, 2); CREATE DOMAIN ${d}_positive AS ${d}_qty CHECK (VALUE > 0)`,
    )
    const name = await table(
      `(id int PRIMARY KEY, qty ${d}_qty, flag ${d}_flag, doc ${d}_doc, at ${d}_at, amount ${d}_amount, positive ${d}_positive, qtys ${d}_qty[])`,
    )
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${name} VALUES (1, 5, false, '{"a": 1}', '2024-02-29 12:34:56+02', 12.5, 7, '{1,2}')`)
    const [change] = await received(changes, 1)
    const [row] = await query(url, `SELECT * FROM ${name}`)
    expect(change?.new).toEqual(row)
    // A query gives an array of a domain as text (its type has no parser in pg): so does the stream.
    expect(change?.new).toMatchObject({ qty: 5, flag: false, doc: { a: 1 }, amount: '12.50', positive: 7, qtys: '{1,2}' })
    expect(change?.new?.at).toBeInstanceOf(Date)
  })

  it('parses a column whose domain was created after the stream connected, delivering every change once', async () => {
    const name = await table('(id int PRIMARY KEY)')
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    const flag = uniqueName('flag')
    await query(url, `CREATE DOMAIN ${flag} AS boolean; ALTER TABLE ${name} ADD COLUMN done ${flag}`)
    await query(url, `BEGIN; INSERT INTO ${name} VALUES (1, false); INSERT INTO ${name} VALUES (2, true); COMMIT`)
    await query(url, `INSERT INTO ${name} VALUES (3, false)`)
    const all = await received(changes, 3)
    expect(all.map((change) => change.new)).toEqual(await query(url, `SELECT * FROM ${name} ORDER BY id`))
    expect(all.map((change) => change.new?.done)).toEqual([false, true, false])
    // The type was not in the catalog the session read before streaming: it reconnected once to read it.
    expect(stream.metrics.snapshot().reconnects).toBe(1)
  })

  it('leaves generated columns out of new, as pgoutput does not publish them (by default, on PostgreSQL 18 too)', async () => {
    const name = await table('(id int PRIMARY KEY, price int, doubled int GENERATED ALWAYS AS (price * 2) STORED)')
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${name} (id, price) VALUES (1, 21)`)
    const [change] = await received(changes, 1)
    expect(change?.new).toEqual({ id: 1, price: 21 })
  })

  it('counts the transactions pgoutput sends: before PostgreSQL 15 those without a published change too, from 15 on not', async () => {
    const published = await table('(id int PRIMARY KEY)')
    const other = await table('(id int PRIMARY KEY)')
    const stream = await feed([published])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${other} VALUES (1)`)
    await query(url, `INSERT INTO ${published} VALUES (1)`)
    await received(changes, 1)
    const { transactions } = stream.metrics.snapshot()
    // Before 15 the server's own transactions (autovacuum's ANALYZE) may come along as well.
    if ((await serverMajor(url)) >= 15) expect(transactions).toBe(1)
    else expect(transactions).toBeGreaterThanOrEqual(2)
  })

  it('delivers updates and deletes with the old key (REPLICA IDENTITY DEFAULT) or the old row (FULL)', async () => {
    const plain = await table('(id int PRIMARY KEY, status text)')
    const full = await table('(id int PRIMARY KEY, status text)')
    await query(url, `ALTER TABLE ${full} REPLICA IDENTITY FULL`)
    const stream = await feed([plain, full])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    for (const name of [plain, full]) {
      await query(url, `INSERT INTO ${name} VALUES (1, 'new')`)
      await query(url, `UPDATE ${name} SET status = 'paid' WHERE id = 1`)
      await query(url, `UPDATE ${name} SET id = 2 WHERE id = 1`)
      await query(url, `DELETE FROM ${name} WHERE id = 2`)
    }
    const all = await received(changes, 8)
    const shapes = all.map((change) => ({ table: change.table, op: change.op, new: change.new, old: change.old }))
    expect(shapes).toEqual([
      { table: plain, op: 'insert', new: { id: 1, status: 'new' }, old: undefined },
      { table: plain, op: 'update', new: { id: 1, status: 'paid' }, old: undefined },
      // The key changed: the old key comes along.
      { table: plain, op: 'update', new: { id: 2, status: 'paid' }, old: { id: 1 } },
      { table: plain, op: 'delete', new: undefined, old: { id: 2 } },
      { table: full, op: 'insert', new: { id: 1, status: 'new' }, old: undefined },
      { table: full, op: 'update', new: { id: 1, status: 'paid' }, old: { id: 1, status: 'new' } },
      { table: full, op: 'update', new: { id: 2, status: 'paid' }, old: { id: 1, status: 'paid' } },
      { table: full, op: 'delete', new: undefined, old: { id: 2, status: 'paid' } },
    ])
  })

  it('never gives null for an unchanged TOAST-ed column: taken from the old row under FULL, else left out and named', async () => {
    const name = await table('(id int PRIMARY KEY, title text, body text)')
    // Stored out of line, uncompressed: an update of another column sends it as "unchanged".
    await query(url, `ALTER TABLE ${name} ALTER COLUMN body SET STORAGE EXTERNAL`)
    const body = randomBytes(40_000).toString('hex')
    await query(url, `INSERT INTO ${name} VALUES (1, 'first', $1)`, [body])
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `UPDATE ${name} SET title = 'second' WHERE id = 1`)
    await query(url, `ALTER TABLE ${name} REPLICA IDENTITY FULL`)
    await query(url, `UPDATE ${name} SET title = 'third' WHERE id = 1`)
    const [keyOnly, fullIdentity] = (await received(changes, 2)) as [Change, Change]
    expect(keyOnly.op).toBe('update')
    expect(keyOnly.new).toEqual({ id: 1, title: 'second' })
    expect(keyOnly.op === 'update' && keyOnly.unchangedToast).toEqual(['body'])
    expect(fullIdentity.new).toEqual({ id: 1, title: 'third', body })
    expect(fullIdentity.op === 'update' && fullIdentity.unchangedToast).toBeUndefined()
  })

  it('delivers one TRUNCATE of several tables as one change per table, in one transaction', async () => {
    const first = await table('(id int PRIMARY KEY)')
    const second = await table('(id serial PRIMARY KEY)')
    const stream = await feed([first, second])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `TRUNCATE ${first}, ${second} RESTART IDENTITY`)
    const both = await received(changes, 2)
    expect(both.map((change) => [change.op, change.table, change.op === 'truncate' && change.restartIdentity, change.lastInTransaction]).sort()).toEqual(
      [
        ['truncate', first, true, false],
        ['truncate', second, true, true],
      ].sort(),
    )
    expect(new Set(both.map((change) => change.commitLsn)).size).toBe(1)
    expect(new Set(both.map((change) => change.position)).size).toBe(2)
  })

  it('gives every change of a multi-row INSERT and of a COPY, which share one commit LSN, a position of its own, in order', async () => {
    const name = await table('(id int PRIMARY KEY, body text)')
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${name} SELECT g, 'row ' || g FROM generate_series(1, 1000) AS g`)
    const sql = postgres(url, { max: 1, onnotice: () => undefined })
    try {
      const lines = Array.from({ length: 2000 }, (_, index) => `${1001 + index}\tcopied ${1001 + index}\n`)
      await pipeline(Readable.from(lines), await sql`COPY ${sql(name)} (id, body) FROM STDIN`.writable())
    } finally {
      await sql.end()
    }
    const all = await received(changes, 3000)
    expect(all.map((change) => change.new?.id)).toEqual(Array.from({ length: 3000 }, (_, index) => index + 1))
    const transactions = [all.slice(0, 1000), all.slice(1000)]
    for (const changesOfOne of transactions) {
      expect(new Set(changesOfOne.map((change) => change.commitLsn)).size).toBe(1)
      expect(changesOfOne.filter((change) => change.lastInTransaction)).toEqual([changesOfOne.at(-1)])
    }
    expect(new Set(all.map((change) => change.position)).size).toBe(3000)
  })

  it('never delivers what rolled back, whole transactions or savepoints', async () => {
    const name = await table('(id int PRIMARY KEY)')
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `BEGIN; INSERT INTO ${name} VALUES (1); ROLLBACK`)
    await query(url, `BEGIN; INSERT INTO ${name} VALUES (2); SAVEPOINT s; INSERT INTO ${name} VALUES (3); ROLLBACK TO s; INSERT INTO ${name} VALUES (4); COMMIT`)
    await query(url, `INSERT INTO ${name} VALUES (5)`)
    await received(changes, 3)
    expect(changes.values.map((change) => change.new?.id)).toEqual([2, 4, 5])
  })

  it('delivers transactions in commit order, not in the order they started', async () => {
    const name = await table('(id int PRIMARY KEY)')
    const stream = await feed([name])
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    const early = postgres(url, { max: 1 })
    try {
      await early.begin(async (transaction) => {
        await transaction`INSERT INTO ${transaction(name)} VALUES (10)`
        await query(url, `INSERT INTO ${name} VALUES (20)`)
        await transaction`INSERT INTO ${transaction(name)} VALUES (11)`
      })
    } finally {
      await early.end()
    }
    await received(changes, 3)
    expect(changes.values.map((change) => change.new?.id)).toEqual([20, 10, 11])
  })

  it('delivers only the tables asked for', async () => {
    const wanted = await table('(id int PRIMARY KEY)')
    const other = await table('(id int PRIMARY KEY)')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [wanted, other] })
    const stream = changeStream(url, { slot, publication, tables: [wanted] })
    open.push({ stream, slot, publication })
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${other} VALUES (1); INSERT INTO ${wanted} VALUES (2); INSERT INTO ${other} VALUES (3)`)
    await query(url, `INSERT INTO ${wanted} VALUES (4)`)
    await received(changes, 2)
    expect(changes.values.map((change) => [change.table, change.new?.id])).toEqual([
      [wanted, 2],
      [wanted, 4],
    ])
  })
})

describe('replication: typed rows and transactions', () => {
  it('decodes rows with a Standard Schema per table, and fails the stream on a row it refuses rather than skip it', async () => {
    const orders = await table('(id int PRIMARY KEY, status text)')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [orders] })
    const Order = z.object({ id: z.number(), status: z.enum(['placed', 'paid']) })
    const stream = changeStream(url, { slot, publication, tables: { [orders]: Order } })
    open.push({ stream, slot, publication })
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${orders} VALUES (1, 'placed'); UPDATE ${orders} SET status = 'lost' WHERE id = 1`)
    const failed = await stateOf(stream, 'failed')
    expect(changes.values.map((change) => change.new)).toEqual([{ id: 1, status: 'placed' }])
    expect(failed.error).toBeInstanceOf(ChangeDecodeError)
    expect(failed.error.info).toMatchObject({ schema: 'public', table: orders, op: 'update' })
    expect(changes.errors).toEqual([failed.error])
  })

  it('hands refused rows to onInvalid and goes on; a decoding function works as well as a schema', async () => {
    const orders = await table('(id int PRIMARY KEY, status text)')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [orders] })
    const invalid: ChangeDecodeError[] = []
    const decodeOrder = (row: unknown) => {
      const { id, status } = row as { id: number; status: string }
      return status === 'placed' ? { _tag: 'Right' as const, right: { id, placed: true } } : { _tag: 'Left' as const, left: `unknown status ${status}` }
    }
    const stream = changeStream(url, { slot, publication, tables: { [orders]: decodeOrder }, onInvalid: (error) => invalid.push(error) })
    open.push({ stream, slot, publication })
    const changes = collect(stream.changes$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${orders} VALUES (1, 'placed'), (2, 'odd'), (3, 'placed')`)
    await received(changes, 2)
    expect(changes.values.map((change) => change.new)).toEqual([
      { id: 1, placed: true },
      { id: 3, placed: true },
    ])
    expect(invalid.map((error) => error.info.messages)).toEqual([['unknown status odd']])
    expect(stream.metrics.snapshot().decodeFailures).toBe(1)
  })

  it('calls onInvalid in stream order, and takes the refused position as an acknowledgement there and after', async () => {
    const orders = await table('(id int PRIMARY KEY, items jsonb NOT NULL)')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [orders] })
    const Order = z.object({ id: z.number(), items: z.array(z.string()) })
    const log: string[] = []
    const refused: string[] = []
    const stream = changeStream(url, {
      slot,
      publication,
      checkpoints: false,
      tables: { [orders]: Order },
      onInvalid: (error) => {
        log.push(`invalid ${error.info.op}`)
        refused.push(error.info.position)
        try {
          stream.ack(error.info.position)
          log.push('acknowledged')
        } catch (failure) {
          log.push(`ack threw ${(failure as Error).name}`)
        }
      },
    })
    open.push({ stream, slot, publication })
    const delivered: Array<Change<{ id: number }>> = []
    stream.changes$.subscribe((item) => {
      const change = item as Change<{ id: number }>
      delivered.push(change)
      log.push(`${change.new?.id}${change.lastInTransaction ? ' last' : ''}`)
    })
    await stateOf(stream, 'connected')
    // One transaction refused in its middle, one refused at its end.
    await query(url, `INSERT INTO ${orders} VALUES (1, '[]'), (2, '"not an array"'), (3, '[]')`)
    await query(url, `INSERT INTO ${orders} VALUES (4, '[]'), (5, '{}')`)
    await eventually(() => log.length >= 7, () => log.join(', '))
    expect(log).toEqual(['1', 'invalid insert', 'acknowledged', '3 last', '4 last', 'invalid insert', 'acknowledged'])
    // Later, too: nothing changes (acknowledged already), nothing throws.
    for (const position of refused) stream.ack(position)
    expect(stream.metrics.snapshot()).toMatchObject({ delivered: 3, decodeFailures: 2, acknowledged: 3, unacknowledged: 0 })
    // The last refused change ends its transaction: acknowledging it moves the slot past the transaction, which
    // acknowledging change 4 (the last delivered of it, with a refused change after it) does not.
    const resumeOf = (token: string) => decodeToken(token).position.resume
    const lastRefused = refused[1] as string
    expect(resumeOf(lastRefused)).toBeGreaterThan(resumeOf((delivered[2] as Change<{ id: number }>).position))
    expect(stream.metrics.snapshot().acknowledgedLsn).toBe(formatLsn(resumeOf(lastRefused)))
  })

  it('groups changes by transaction with transactionStream', async () => {
    const name = await table('(id int PRIMARY KEY)')
    const slot = uniqueName('slot')
    const publication = uniqueName('pub')
    await ensureReplication(url, { slot, publication, tables: [name] })
    const stream = transactionStream(url, { slot, publication, checkpoints: false })
    open.push({ stream, slot, publication })
    const transactions = collect(stream.transactions$)
    await stateOf(stream, 'connected')
    await query(url, `INSERT INTO ${name} SELECT generate_series(1, 3)`)
    await query(url, `BEGIN; INSERT INTO ${name} VALUES (4); DELETE FROM ${name} WHERE id = 1; COMMIT`)
    await received(transactions, 2)
    expect(transactions.values.map((transaction) => transaction.changes.map((change) => [change.op, change.new?.id ?? change.old?.id]))).toEqual([
      [
        ['insert', 1],
        ['insert', 2],
        ['insert', 3],
      ],
      [
        ['insert', 4],
        ['delete', 1],
      ],
    ])
    for (const transaction of transactions.values) expect(transaction.position).toBe(transaction.changes.at(-1)?.position)
  })
})

describe('replication: catching up', () => {
  it('drains a backlog with its reads gathered, every change once and in commit order, as it does reading at once', async () => {
    const name = await table('(id int PRIMARY KEY, note text NOT NULL)')
    const gathering = await feed([name])
    const direct = await feed([name], { gatherReads: false })
    // 100 transactions of 100 rows, all committed before either stream starts: the server sends each of them
    // well after its commit, so the default stream is behind for the whole backlog.
    await query(url, `DO $$ BEGIN FOR t IN 0..99 LOOP INSERT INTO ${name} SELECT t * 100 + g, repeat('x', 100) FROM generate_series(1, 100) g; COMMIT; END LOOP; END $$`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const ids = async (stream: ReplicationStream & { readonly changes$: typeof gathering.changes$ }) => {
      const items = collect(stream.changes$)
      const subscription = stream.changes$.subscribe((change) => stream.ack(change.position))
      try {
        return (await received(items, 10_000)).map((change) => (change as Change<{ id: number }>).new?.id)
      } finally {
        subscription.unsubscribe()
        items.stop()
      }
    }
    const expected = Array.from({ length: 10_000 }, (_, index) => index + 1)
    expect(await ids(gathering)).toEqual(expected)
    expect(gathering.metrics.snapshot().gatheredReads).toBeGreaterThan(0)
    expect(await ids(direct)).toEqual(expected)
    expect(direct.metrics.snapshot().gatheredReads).toBe(0)
  })
})

describe('replication: a stream left idle', () => {
  // docs/replication.md: while no session runs, what was delivered can still be acknowledged, and the next
  // session reports it to the slot; it is not delivered again.
  it('takes acknowledgements while idle, reports them to the slot when subscribed again, and delivers nothing twice', async () => {
    const name = await table('(id int PRIMARY KEY)')
    const stream = await feed([name])
    const first = collect(stream.changes$)
    await stateOf(stream, 'connected')
    const slot = open.at(-1)!.slot
    // Its WAL sender is named for the operator (pg_stat_replication, pg_stat_activity).
    const [sender] = await query(url, `SELECT r.application_name FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1`, [slot])
    expect(sender?.application_name).toBe('rxpg replication')
    await query(url, `INSERT INTO ${name} SELECT g FROM generate_series(1, 5) g`)
    const delivered = await received(first, 5)
    first.stop()
    await stateOf(stream, 'idle')
    expect(stream.metrics.snapshot().unacknowledged).toBe(5)
    stream.ack(delivered[4]!.position)
    expect(stream.metrics.snapshot().unacknowledged).toBe(0)
    const confirmed = async () => (await query(url, `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1`, [slot]))[0]?.lsn as string
    const before = await confirmed()
    await query(url, `INSERT INTO ${name} VALUES (6)`)
    const second = collect(stream.changes$)
    const [next] = await received(second, 1)
    expect(next?.new).toEqual({ id: 6 })
    await eventually(async () => (await confirmed()) !== before, () => `the slot still confirms ${before}`)
    expect(second.values).toHaveLength(1)
    second.stop()
  })
})
