// A durable feed worked by a consumer group as typed changes (consumeChanges), against the real server: the
// changes as tableChanges gives them (bigint and numeric exact, rows decoded by the codec), a row's changes in
// order in its key's partition, effects written through the batch's client once across two members, and the
// feeds it refuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { consumeChanges, InvalidChangeFeedError, ChangeFeedNotInstalledError, type TableChange } from '../../lib/changes/index.js'
import { createDurableLog, type DurableConsumer } from '../../lib/durable/index.js'
import { eventually } from '../support/database.js'
import { changesFixture, type ChangesFixture } from '../support/changes.js'
import { horizonPassed, uniqueSchema } from '../support/durable.js'

let fixture: ChangesFixture
const running: DurableConsumer[] = []

beforeAll(async () => {
  fixture = await changesFixture('changes_consumers')
})
afterAll(async () => {
  await Promise.all(running.map((consumer) => consumer.stop()))
  await fixture.close()
})

const Order = z.object({ id: z.string(), status: z.string(), total: z.string() })

describe('consumeChanges', () => {
  it('works every change once across two members, typed and exact, each row in order, its effects in the batch transaction', async () => {
    const table = fixture.table('consumed_orders')
    const effects = fixture.table('consumed_effects')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text NOT NULL, total numeric(30, 2) NOT NULL)`)
    await fixture.sql(`CREATE TABLE ${effects} (seq bigserial, token text PRIMARY KEY, order_id text NOT NULL, op text NOT NULL, status text, total text)`)
    const spec = await fixture.install({ table: 'consumed_orders', key: ['id'] })
    const handler = async (changes: ReadonlyArray<TableChange<z.infer<typeof Order>>>, client: { query(text: string, values: unknown[]): Promise<unknown> }) => {
      for (const change of changes) {
        const row = change.new ?? change.old
        const decoded = row?._tag === 'Right' ? row.right : undefined
        await client.query(`INSERT INTO ${effects} (token, order_id, op, status, total) VALUES ($1, $2, $3, $4, $5)`, [change.token, change.key.id, change.op, decoded?.status ?? null, decoded?.total ?? null])
      }
    }
    for (const member of ['a', 'b']) {
      running.push(await consumeChanges({ log: fixture.log, pool: fixture.pool }, { table: spec.table, row: Order }, 'billing', handler, { member, batchSize: 7 }))
    }
    // A bigint past a double's precision and a numeric with more digits than a double: exact strings.
    await fixture.sql(`INSERT INTO ${table} SELECT 9007199254740993 + g, 'placed', 12345678901234567890.10 FROM generate_series(1, 40) g`)
    await fixture.sql(`UPDATE ${table} SET status = 'paid' WHERE id % 2 = 0`)
    await fixture.sql(`DELETE FROM ${table} WHERE id % 4 = 0`)
    const total = 40 + 20 + 10
    await eventually(async () => Number((await fixture.sql<{ n: string }>(`SELECT count(*) AS n FROM ${effects}`))[0]?.n) === total, () => 'not every change applied')
    // Committed effects only (a batch whose lease was lost meanwhile rolled back), in the order they were written.
    const rows = await fixture.sql<{ order_id: string; op: string; status: string | null; total: string | null }>(`SELECT order_id, op, status, total FROM ${effects} ORDER BY seq`)
    expect(rows).toHaveLength(total)
    expect(rows.find((row) => row.order_id === '9007199254740994' && row.op === 'insert')).toEqual({ order_id: '9007199254740994', op: 'insert', status: 'placed', total: '12345678901234567890.10' })
    // Each row's changes in order: insert, then update, then delete.
    const order: Record<string, number> = { insert: 0, update: 1, delete: 2 }
    for (const id of new Set(rows.map((row) => row.order_id))) {
      const ops = rows.filter((row) => row.order_id === id).map((row) => order[row.op])
      expect(ops, `changes of ${id}`).toEqual([...ops].sort())
    }
    expect(running.every((consumer) => consumer.stats.handlerFailures === 0)).toBe(true)
  })

  it('sets aside a change its handler keeps failing on as the feed stored it (deadLetter), and works the others', async () => {
    const table = fixture.table('poisoned_orders')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text NOT NULL, total numeric(30, 2) NOT NULL)`)
    const spec = await fixture.install({ table: 'poisoned_orders', key: ['id'] })
    const handled: string[] = []
    const consumer = await consumeChanges(
      { log: fixture.log, pool: fixture.pool },
      { table: spec.table, row: Order },
      'billing',
      (changes) => {
        if (changes.some((change) => change.key.id === '2')) throw new Error('order 2 cannot be billed')
        handled.push(...changes.map((change) => change.key.id as string))
      },
      { retryDelay: 10, deadLetter: { channel: 'poisoned_orders.dead', maxAttempts: 2 } },
    )
    running.push(consumer)
    await fixture.sql(`INSERT INTO ${table} SELECT g, 'placed', 10.50 FROM generate_series(1, 3) g`)
    await eventually(() => consumer.stats.deadLettered === 1 && handled.length === 2, () => JSON.stringify(consumer.stats))
    expect(handled.sort()).toEqual(['1', '3'])
    await horizonPassed(fixture.url)
    const { messages } = await fixture.log.fetch('poisoned_orders.dead', { after: 'earliest' })
    expect(messages.map((message) => [message.key, message.value])).toEqual([
      [
        '{"id" : 2}',
        expect.objectContaining({ key: '{"id" : 2}', attempts: 2, value: { op: 'insert', new: { id: 2, status: 'placed', total: 10.5 } }, error: { name: 'Error', message: 'order 2 cannot be billed' } }),
      ],
    ])
  })

  it('refuses a light feed, a log of another schema, a feed that is not installed, and a misplaced from', async () => {
    await fixture.sql(`CREATE TABLE ${fixture.table('light_orders')} (id int PRIMARY KEY)`)
    const light = await fixture.install({ table: 'light_orders', carrier: 'light' })
    const noop = () => undefined
    await expect(consumeChanges({ log: fixture.log, pool: fixture.pool }, { table: light.table }, 'g', noop)).rejects.toThrow(/consumer groups work durable feeds only/)
    await fixture.sql(`CREATE TABLE ${fixture.table('other_log_orders')} (id int PRIMARY KEY)`)
    const durable = await fixture.install({ table: 'other_log_orders' })
    const other = createDurableLog({ listener: fixture.listener, pool: fixture.pool, schema: uniqueSchema('other') })
    try {
      await expect(consumeChanges({ log: other, pool: fixture.pool }, { table: durable.table }, 'g', noop)).rejects.toThrow(InvalidChangeFeedError)
    } finally {
      await other.close()
    }
    await fixture.sql(`CREATE TABLE ${fixture.table('bare_orders')} (id int PRIMARY KEY)`)
    await expect(consumeChanges({ log: fixture.log, pool: fixture.pool }, { table: fixture.table('bare_orders') }, 'g', noop)).rejects.toThrow(ChangeFeedNotInstalledError)
    const misplaced = { table: durable.table, from: 'earliest' } as unknown as Parameters<typeof consumeChanges>[1]
    await expect(consumeChanges({ log: fixture.log, pool: fixture.pool }, misplaced, 'g', noop)).rejects.toThrow(/consumeOptions/)
  })

  // A JavaScript caller's mistakes (a handler that is not a function, the arguments in log.consume's order) were
  // taken: the consumer ran, and every batch failed and came again, for ever.
  it('refuses a handler that is not a function, a group name that cannot be one, and consume options it cannot honour, before starting', async () => {
    await fixture.sql(`CREATE TABLE ${fixture.table('argument_orders')} (id int PRIMARY KEY)`)
    const spec = await fixture.install({ table: 'argument_orders' })
    const source = { log: fixture.log, pool: fixture.pool }
    const call = (group: unknown, handler: unknown, options?: unknown) => consumeChanges(source, { table: spec.table }, group as string, handler as () => void, options as undefined)
    await expect(call('g', 'not a function')).rejects.toThrow(new TypeError(`rxpg/changes: consumeChanges' handler must be a function (changes, client) => …; got a string ("not a function")`))
    await expect(call(() => undefined, 'g')).rejects.toThrow(/handler must be a function .* got a string \("g"\)/)
    await expect(call('', () => undefined)).rejects.toThrow(/consumer group's name must be a non-empty string/)
    await expect(call('g', () => undefined, { leaseTtl: 1 })).rejects.toThrow(RangeError)
    await expect(call('g', () => undefined, { form: 'earliest' })).rejects.toThrow(/has no option "form"/)
    // A source without its pool failed as a query failure ("reading 'query'"), without a log as a crash.
    const partial = (given: object) => consumeChanges(given as never, { table: spec.table }, 'g', () => undefined)
    await expect(partial({ log: fixture.log })).rejects.toThrow(new TypeError('rxpg/changes: consumeChanges needs source { log, pool }: pool must be a pg.Pool (it checks the feed and reads the column types); got undefined'))
    await expect(partial({ pool: fixture.pool })).rejects.toThrow(/needs source \{ log, pool \}: log must be a durable log \(createDurableLog\)/)
  })
})
