// Isolation. rxpg's leases and fences (cursor rows updated by acks on the batch's connection, and by renewals and
// takeovers on the lease connection) rely on READ COMMITTED: an update that meets a concurrent one waits for it,
// then checks its WHERE again. Under REPEATABLE READ or SERIALIZABLE it fails with 40001 instead. A new user's
// trial on a server whose default_transaction_isolation was 'serializable': two members took 23-30 s for 2,000
// messages (0.6 s under read committed), their acks failing with 40001 and their partitions dropped and retaken.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConsumerEvent, DurableLog } from '../../lib/durable/index.js'
import { DurableQueryFailedError } from '../../lib/durable/index.js'
import { adminQuery } from '../support/database.js'
import { collect } from '../support/listener.js'
import { scratchDatabase, type ScratchDatabase } from '../support/database.js'
import { durableDatabaseUrl, durableFixture, horizonPassed, type DurableFixture } from '../support/durable.js'

const sqlStateOf = (error: unknown) => (error instanceof DurableQueryFailedError ? error.info.sqlState : undefined)
const ROLLED_BACK = new Set(['40001', '40P01'])

/** Events that say a member lost time to a failure: what a group whose acks and leases work never shows. */
function troubles(events: readonly ConsumerEvent[]): ConsumerEvent[] {
  return events.filter(
    (event) =>
      event.kind === 'stale-ack' ||
      event.kind === 'handler-failed' ||
      (event.kind === 'released' && event.reason === 'lost') ||
      (event.kind === 'retrying' && ROLLED_BACK.has(sqlStateOf(event.error) ?? '')),
  )
}

const describeEvents = (events: readonly ConsumerEvent[]) =>
  JSON.stringify(events.map((event) => ('error' in event ? { kind: event.kind, sqlState: sqlStateOf(event.error), operation: (event.error as DurableQueryFailedError).info?.operation } : event)))

describe.each(['serializable', 'repeatable read'])('a database whose default_transaction_isolation is %s', (level) => {
  let database: ScratchDatabase

  beforeAll(async () => {
    database = await scratchDatabase('durable_isolation', { settings: { default_transaction_isolation: level } }, durableDatabaseUrl())
  })
  afterAll(async () => {
    await database.drop()
  })

  it('two competing members apply every message appended while they work exactly once, without a serialization failure', async () => {
    const fixture = await durableFixture('durable_iso_group', {}, database.url)
    try {
      const { log, schema } = fixture
      await fixture.pool.query(`CREATE TABLE "${schema}".effects (token text NOT NULL, i int NOT NULL, isolation text NOT NULL)`)
      const members: DurableLog[] = [fixture.openLog(), fixture.openLog()]
      const events: ConsumerEvent[] = []
      const consumers = members.map((member) => {
        const consumer = member.consume(
          'orders',
          'billing',
          async (messages, client) => {
            await client.query(`INSERT INTO "${schema}".effects SELECT t, i, current_setting('transaction_isolation') FROM unnest($1::text[], $2::int[]) AS u(t, i)`, [
              messages.map((message) => message.token),
              messages.map((message) => (message.value as { i: number }).i),
            ])
          },
          { batchSize: 50, retryDelay: 50 },
        )
        consumer.events$.subscribe((event) => events.push(event))
        return consumer
      })
      const total = 2000
      // Appended while the group works, as in a live system.
      for (let start = 0; start < total; start += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => log.append('orders', { i: start + j }, { key: `customer-${(start + j) % 37}` })))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      // Until every effect is there, or a failure shows (then at once: no waiting out a slow group).
      for (;;) {
        const [row] = (await fixture.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".effects`)).rows
        if ((row?.n ?? 0) >= total || troubles(events).length > 0) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      for (const consumer of consumers) await consumer.stop()
      expect(describeEvents(troubles(events))).toBe('[]')
      const [applied] = (
        await fixture.pool.query<{ n: number; tokens: number; values: number; levels: string[] }>(
          `SELECT count(*)::int AS n, count(DISTINCT token)::int AS tokens, count(DISTINCT i)::int AS values, array_agg(DISTINCT isolation) AS levels FROM "${schema}".effects`,
        )
      ).rows
      expect(applied).toEqual({ n: total, tokens: total, values: total, levels: ['read committed'] })
    } finally {
      await fixture.close()
    }
  })

  it("every transaction and lease statement the log runs for itself runs at READ COMMITTED; your own transaction keeps the database's level", async () => {
    const fixture = await durableFixture('durable_iso_levels', {}, database.url)
    try {
      const { log, schema, url } = fixture
      const s = `"${schema}"`
      // Your transaction, with an append to a channel not registered yet (registered on a connection of the log's).
      const yours = await log.transaction(async (client) => {
        await log.append('yours', 'in your transaction', { client })
        return (await client.query<{ level: string }>(`SELECT current_setting('transaction_isolation') AS level`)).rows[0]?.level
      })
      expect(yours).toBe(level)
      // What each statement writing the log's tables runs at; for the log's INSERTs also whether it is a lone
      // INSERT, a transaction of its own (no transaction id yet before it starts; an overlapping batch's
      // transaction takes its id first).
      await adminQuery(
        `CREATE TABLE ${s}.levels (tbl text, op text, level text, lone boolean);
         CREATE FUNCTION ${s}.record_level() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO ${s}.levels VALUES (TG_TABLE_NAME, TG_OP, current_setting('transaction_isolation'), txid_current_if_assigned() IS NULL);
           RETURN NULL;
         END $$;
         CREATE TRIGGER record_level BEFORE INSERT ON ${s}.durable_log FOR EACH STATEMENT EXECUTE FUNCTION ${s}.record_level();
         DO $$
         DECLARE t text;
         BEGIN
           FOREACH t IN ARRAY ARRAY['durable_cursors', 'durable_members', 'durable_channels', 'durable_meta', 'durable_partitions'] LOOP
             EXECUTE format('CREATE TRIGGER record_level AFTER INSERT OR UPDATE OR DELETE ON %I.%I FOR EACH STATEMENT EXECUTE FUNCTION %I.record_level()', '${schema}', t, '${schema}');
           END LOOP;
         END $$`,
        [],
        url,
      )
      // A channel registered by the log's appends; batches written in overlapping transactions (more than a batch waits).
      const overlapping = fixture.openLog({ appendBatch: { maxBatchSize: 10 }, retention: { premake: 6 } })
      await Promise.all(Array.from({ length: 100 }, (_, i) => overlapping.append('orders', i)))
      // Maintenance (partitions made ahead: premake is larger than the first log's).
      await overlapping.maintain()
      // A consumer group: joining, heartbeats, takeovers, renewals, acks, releases, leaving.
      await horizonPassed(url)
      const consumer = log.consume('orders', 'levels', async () => undefined, { leaseTtl: 300 })
      const events = collect(consumer.events$)
      const start = Date.now()
      while (events.values.filter((event) => event.kind === 'batch').length === 0 || Date.now() - start < 400) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        if (Date.now() - start > 15_000) throw new Error(`no batch: ${describeEvents(events.values)}`)
      }
      await consumer.stop()
      await log.moveGroup('orders', 'levels', 'earliest')
      const rows = await adminQuery<{ tbl: string; op: string; level: string; lone: boolean }>(`SELECT DISTINCT tbl, op, level, lone FROM ${s}.levels ORDER BY tbl, op, level, lone`, [], url)
      // Every table the log writes was written (so each path was seen), and only a lone INSERT of appends ran at your level:
      // one statement that reads nothing behaves the same at every level.
      expect([...new Set(rows.map((row) => `${row.tbl} ${row.op}`))]).toEqual(
        expect.arrayContaining([
          'durable_channels INSERT',
          'durable_cursors INSERT',
          'durable_cursors UPDATE',
          'durable_log INSERT',
          'durable_members DELETE',
          'durable_members INSERT',
          'durable_meta UPDATE',
          'durable_partitions INSERT',
        ]),
      )
      expect(rows.filter((row) => row.level !== 'read committed' && !(row.tbl === 'durable_log' && row.lone))).toEqual([])
      expect(rows.some((row) => row.tbl === 'durable_log' && !row.lone)).toBe(true)
    } finally {
      await fixture.close()
    }
  })

  // The statements run at READ COMMITTED carry their values written in as literals (read-committed.ts).
  it("works with names holding quotes, backslashes and '$1' (schema, channel, group, member)", async () => {
    const fixture = await durableFixture('durable_iso_names', {}, database.url)
    const schema = `${fixture.schema}_$1"q'\\`
    try {
      const log = fixture.openLog({ schema })
      await log.ensureSchema()
      const channel = `it's a \\ "channel" $2`
      const group = `group's \\ $1`
      await log.append(channel, 'one', { key: `key's \\` })
      await horizonPassed(database.url)
      const handled: unknown[] = []
      const consumer = log.consume(channel, group, (messages) => void handled.push(...messages.map((message) => message.value)), { member: `member "m" 'x' \\ $3` })
      const start = Date.now()
      while (handled.length === 0 && Date.now() - start < 15_000) await new Promise((resolve) => setTimeout(resolve, 20))
      await consumer.stop()
      expect(handled).toEqual(['one'])
      expect(await log.groups(channel)).toEqual([group])
      await log.moveGroup(channel, group, 'earliest')
      expect((await log.groupLag(channel, group)).waiting).toBe(1)
      expect((await log.maintain()).elected).toBe(true)
    } finally {
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', '""')}" CASCADE`, [], database.url)
      await fixture.close()
    }
  })

  it('installs the schema from several processes at once', async () => {
    const fixture = await durableFixture('durable_iso_install', {}, database.url)
    try {
      // A schema of its own, installed by three logs at once: each waits for the one before (an advisory lock),
      // and must then see what it installed.
      const schema = `${fixture.schema}_b`
      const logs = [0, 1, 2].map(() => fixture.openLog({ schema }))
      try {
        await Promise.all(logs.map((log) => log.ensureSchema()))
        expect(await logs[0]!.append('installed', 'yes')).toMatch(/\S/)
      } finally {
        await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], database.url)
      }
    } finally {
      await fixture.close()
    }
  })
})

describe('a handler that raises its own isolation level', () => {
  let fixture: DurableFixture

  beforeAll(async () => {
    fixture = await durableFixture('durable_iso_raised')
  })
  afterAll(async () => {
    await fixture.close()
  })

  // Its ack then fails with 40001 when its cursor rows changed since its snapshot (a renewal of its leases did, at
  // every third of leaseTtl). Nothing committed: the batch comes again after retryDelay, and the member keeps its
  // partitions, as for a serialization failure at COMMIT. It used to drop them all ("the commit's outcome may be
  // unknown") and take them again a third of leaseTtl later.
  it('an ack refused with a serialization failure is a failed batch, retried after retryDelay, and the leases are kept', async () => {
    const { log, schema, url } = fixture
    await fixture.pool.query(`CREATE TABLE "${schema}".effects (token text NOT NULL)`)
    await Promise.all(['a', 'b', 'c'].map((key) => log.append('raised', key, { key })))
    await horizonPassed(url)
    let calls = 0
    const consumer = log.consume(
      'raised',
      'g',
      async (messages, client) => {
        await client.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')
        await client.query(`INSERT INTO "${schema}".effects SELECT unnest($1::text[])`, [messages.map((message) => message.token)])
        // The first time: the group's cursor rows change after this transaction's snapshot (as a renewal changes them).
        if (calls++ === 0) await adminQuery(`UPDATE "${schema}".durable_cursors SET lease_until = lease_until WHERE channel = 'raised' AND grp = 'g'`, [], url)
      },
      { retryDelay: 20 },
    )
    const events = collect(consumer.events$)
    const partitionsSeen: number[] = []
    const start = Date.now()
    while (!events.values.some((event) => event.kind === 'batch') && Date.now() - start < 15_000) {
      if (calls > 0) partitionsSeen.push(consumer.stats.partitions.length)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await consumer.stop()
    // (A renewal during a later attempt would fail it the same way: more handler-failed events, nothing else.)
    expect(events.values.filter((event) => event.kind !== 'handler-failed').map((event) => event.kind), describeEvents(events.values)).toEqual(['acquired', 'batch', 'released'])
    const failed = events.values[1] as Extract<ConsumerEvent, { kind: 'handler-failed' }>
    expect(failed.kind).toBe('handler-failed')
    expect(failed.error).toBeInstanceOf(DurableQueryFailedError)
    expect((failed.error as DurableQueryFailedError).info).toMatchObject({ operation: 'ack', sqlState: '40001' })
    expect(failed).toMatchObject({ messages: 3, attempt: 1 })
    expect(events.values.at(-1)).toMatchObject({ kind: 'released', reason: 'stopped' })
    expect(new Set(partitionsSeen)).toEqual(new Set([16]))
    const effects = (await fixture.pool.query<{ token: string }>(`SELECT token FROM "${schema}".effects`)).rows
    expect(effects).toHaveLength(3)
    expect(consumer.stats).toMatchObject({ batches: 1, messages: 3, staleAcks: 0 })
  })
})
