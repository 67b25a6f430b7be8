/**
 * Limits a managed server puts on a role, passing while readers and consumers run (a new user's trial on a
 * shared, constrained server): each is retried as a `retrying` event, and once it is lifted everything is read
 * and consumed, nothing lost or doubled. Before, a statement_timeout (57014, which docs/durable.md recommends)
 * ended readers and consumers for good; so did a read-only role (25006: default_transaction_read_only, a
 * standby after a failover); and at the role's CONNECTION LIMIT a consumer's batch connection failed with pg's
 * raw DatabaseError, which ended it.
 */
import pg from 'pg'
import { EMPTY } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDurableLog, DurableQueryFailedError, type ConsumerEvent, type DurableConsumer, type DurableLog, type DurableMessage } from '../../lib/durable/index.js'
import { adminQuery, eventually } from '../support/database.js'
import { applicationRole, durableFixture, type ApplicationRole, type DurableFixture } from '../support/durable.js'
import { collect } from '../support/listener.js'

let owner: DurableFixture
let limited: ApplicationRole
let role = ''
const pools: pg.Pool[] = []
const logs: DurableLog[] = []
const consumers: DurableConsumer[] = []

beforeAll(async () => {
  owner = await durableFixture('durable_limits', { maintenanceInterval: false })
  limited = await applicationRole(owner, 'limited')
  role = limited.role
})
afterAll(async () => {
  await Promise.all(consumers.map((consumer) => consumer.stop()))
  await Promise.all(logs.map((log) => log.close()))
  await Promise.all(pools.map((pool) => pool.end()))
  await owner.close()
  await limited.drop()
})

/** A log on the limited role's pool (the owner's listener wakes it), with a reader and a consumer that record what they see. */
function limitedLog(poolConfig: pg.PoolConfig = {}) {
  const pool = new pg.Pool({ connectionString: limited.url, max: 4, ...poolConfig })
  pool.on('error', () => undefined)
  pools.push(pool)
  const log = createDurableLog({ listener: owner.listener, pool, schema: owner.schema, maintenanceInterval: false, pollInterval: 100 })
  logs.push(log)
  return log
}

function work(log: DurableLog, channel: string, options: { batchSize?: number } = {}, reading = true) {
  const read = collect(reading ? log.read(channel, { from: 'earliest' }) : EMPTY)
  const handled: string[] = []
  const consumer = log.consume(channel, 'g', (messages: ReadonlyArray<DurableMessage<unknown>>) => void handled.push(...messages.map((message) => message.token)), { leaseTtl: 2000, ...options })
  consumers.push(consumer)
  const events = collect(consumer.events$)
  return { read, handled, consumer, events }
}

const appendMany = async (channel: string, count: number) => {
  const tokens: string[] = []
  for (let n = 0; n < count; n++) tokens.push(await owner.log.append(channel, { n }))
  return tokens
}

const retriedWith = (events: readonly ConsumerEvent[], sqlState: string) =>
  events.some((event) => event.kind === 'retrying' && event.error instanceof DurableQueryFailedError && event.error.info.sqlState === sqlState)

describe('a durable log under the limits of a managed server', () => {
  it('retries statements a statement_timeout cancels (57014) while a migration holds the log, and then reads and consumes everything', async () => {
    const log = limitedLog({ statement_timeout: 150 } as pg.PoolConfig)
    const channel = 'timed'
    const { read, handled, consumer, events } = work(log, channel)
    const tokens = await appendMany(channel, 5)
    await eventually(() => handled.length === 5 && read.values.length === 5, () => `read ${read.values.length}, handled ${handled.length}`)
    // A migration holds the log for longer than the timeout, while more is appended.
    const migration = new pg.Client({ connectionString: owner.url })
    await migration.connect()
    await migration.query('BEGIN')
    await migration.query(`LOCK TABLE "${owner.schema}".durable_log IN ACCESS EXCLUSIVE MODE`)
    const more = owner.log.transaction(async (client) => {
      const appended: string[] = []
      for (let n = 5; n < 10; n++) appended.push(await owner.log.append(channel, { n }, { client }))
      return appended
    })
    await eventually(() => retriedWith(events.values, '57014'), () => `no retry: ${JSON.stringify(events.values.map((event) => event.kind))}`)
    await migration.query('COMMIT')
    await migration.end()
    tokens.push(...(await more))
    await eventually(() => handled.length === 10 && read.values.length === 10, () => `read ${read.values.length}, handled ${handled.length}, errors ${String(read.errors[0])}`)
    expect(read.errors).toEqual([])
    expect(read.values.map((message) => message.token)).toEqual(tokens)
    expect([...handled].sort()).toEqual([...tokens].sort())
    expect(consumer.stats.handlerFailures).toBe(0)
  })

  it('retries while the role is read-only (25006), and goes on once it is writable again', async () => {
    const log = limitedLog()
    const channel = 'read-only'
    await adminQuery(`ALTER ROLE ${role} SET default_transaction_read_only = on`, [], owner.url)
    try {
      const { read, handled, events } = work(log, channel)
      await appendMany(channel, 3)
      // The consumer's join and acks write: refused, and retried.
      await eventually(() => retriedWith(events.values, '25006'), () => `no retry: ${JSON.stringify(events.values.map((event) => event.kind))}`)
      await eventually(() => read.values.length === 3, () => `read ${read.values.length}`)
      expect(handled.length).toBeLessThan(3 + 1)
    } finally {
      await adminQuery(`ALTER ROLE ${role} RESET default_transaction_read_only`, [], owner.url)
    }
    const consumer = consumers.at(-1) as DurableConsumer
    await eventually(() => consumer.stats.messages === 3, () => JSON.stringify(consumer.stats))
  })

  it("retries a batch whose connection the role's CONNECTION LIMIT refuses (53300), as a typed error, and goes on once it is lifted", async () => {
    // The lease connection and one pool connection: the batch's connection, wanted while the read ahead holds
    // the other, is refused.
    await adminQuery(`ALTER ROLE ${role} CONNECTION LIMIT 2`, [], owner.url)
    const channel = 'limited'
    try {
      await appendMany(channel, 30)
      const log = limitedLog()
      // No reader beside it: its reads would take the pool connection.
      const { handled, consumer, events } = work(log, channel, { batchSize: 5 }, false)
      await eventually(() => retriedWith(events.values, '53300'), () => `no retry: ${JSON.stringify(events.values.map((event) => event.kind))}`)
      await adminQuery(`ALTER ROLE ${role} CONNECTION LIMIT -1`, [], owner.url)
      await eventually(() => handled.length >= 30, () => `handled ${handled.length}`)
      expect(new Set(handled).size).toBe(30)
      const failed = await Promise.race([consumer.done.then(() => 'stopped', (error: unknown) => String(error)), new Promise((resolve) => setTimeout(resolve, 100, 'running'))])
      expect(failed).toBe('running')
    } finally {
      await adminQuery(`ALTER ROLE ${role} CONNECTION LIMIT -1`, [], owner.url)
    }
  })
})
