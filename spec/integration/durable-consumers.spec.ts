// Consumer groups in one process: partitions shared fairly, exactly-once effects through the handler's
// transaction, a fenced (stale) ack rejected and rolled back, handler failures retried, leave and rejoin.
import { spawnSync } from 'node:child_process'
import pg from 'pg'
import { firstValueFrom, filter } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDurableLog, DurableQueryFailedError, HandlerEndedTransactionError, StaleAckError, type ConsumerEvent, type DurableConsumer } from '../../lib/durable/index.js'
import { adminQuery, eventually } from '../support/database.js'
import { durableFixture, type DurableFixture } from '../support/durable.js'
import { createLedger, type Ledger } from '../../support/durable/ledger.js'
import { collect } from '../support/listener.js'

let fixture: DurableFixture
let ledger: Ledger
const running: DurableConsumer[] = []

beforeAll(async () => {
  fixture = await durableFixture('durable_consumers', { pollInterval: 200 })
  ledger = await createLedger(fixture.schema, fixture.url)
})
afterAll(async () => {
  await Promise.all(running.map((consumer) => consumer.stop()))
  await fixture.close()
})

async function appendKeyed(channel: string, count: number, keys = 8): Promise<void> {
  const seqs = new Map<string, number>()
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) => {
        const key = `key-${(i + j) % keys}`
        const seq = (seqs.get(key) ?? 0) + 1
        seqs.set(key, seq)
        return fixture.log.append(channel, { seq }, { key })
      }),
    )
  }
}

function consume(channel: string, group: string, member: string, options = {}) {
  const consumer = fixture.log.consume(channel, group, (messages, client) => ledger.record(messages, client, member), { leaseTtl: 1500, batchSize: 20, member, ...options })
  running.push(consumer)
  return consumer
}

/** A node script that returns once the backend $PID has left pg_stat_activity (run with spawnSync: it blocks the caller's event loop). */
const sessionGone = `
const pg = require('pg')
const client = new pg.Client(process.env.URL)
const gone = async () => (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [Number(process.env.PID)])).rows[0].n === 0
client.connect().then(async () => {
  while (!(await gone())) await new Promise((resolve) => setTimeout(resolve, 20))
  await client.end()
})
`

const cleanLedger = () => adminQuery(`TRUNCATE ${ledger.table}`, [], fixture.url)

describe('consumer groups', () => {
  it('shares the 16 partitions between members, and applies every message once, in key order', async () => {
    await cleanLedger()
    const a = consume('shared', 'g', 'a')
    const b = consume('shared', 'g', 'b')
    await eventually(() => a.stats.partitions.length === 8 && b.stats.partitions.length === 8, () => `a=${a.stats.partitions} b=${b.stats.partitions}`)
    expect([...a.stats.partitions, ...b.stats.partitions].sort((x, y) => x - y)).toEqual(Array.from({ length: 16 }, (_, i) => i))
    await appendKeyed('shared', 400)
    await eventually(async () => (await ledger.count()) >= 400, () => 'the ledger is incomplete')
    expect(await ledger.count()).toBe(400)
    expect(await ledger.duplicates()).toEqual([])
    expect(await ledger.outOfOrderKeys()).toEqual([])
    expect(a.stats.messages + b.stats.messages).toBe(400)
    expect(a.stats.messages).toBeGreaterThan(0)
    expect(b.stats.messages).toBeGreaterThan(0)

    // b leaves: a takes its partitions and goes on from b's cursors.
    await b.stop()
    await eventually(() => a.stats.partitions.length === 16, () => `a holds ${a.stats.partitions.length}`)
    await appendKeyed('shared', 100)
    await eventually(async () => (await ledger.count()) >= 500, () => 'the ledger is incomplete')
    expect(await ledger.duplicates()).toEqual([])
    await a.stop()
  })

  it('keeps the generation of a lease it renews and reports no takeover while nobody joins or leaves (a member below its fair share)', async () => {
    const log = fixture.openLog({ partitions: 3 })
    const handler = async () => undefined
    const a = log.consume('churn', 'g', handler, { leaseTtl: 600, member: 'churn-a' })
    running.push(a)
    await eventually(() => a.stats.partitions.length === 3, () => `a holds ${a.stats.partitions}`)
    // b's fair share is ceil(3 / 2) = 2, but a keeps 2 of the 3: b stays below its share, holding 1.
    const b = log.consume('churn', 'g', handler, { leaseTtl: 600, member: 'churn-b' })
    running.push(b)
    const events = collect(b.events$)
    await eventually(() => a.stats.partitions.length === 2 && b.stats.partitions.length === 1, () => `a=${a.stats.partitions} b=${b.stats.partitions}`)
    const cursors = `"${fixture.schema}".durable_cursors`
    const generations = () => adminQuery<{ part: number; owner: string; generation: string }>(`SELECT part, owner, generation::text FROM ${cursors} WHERE channel = 'churn' ORDER BY part`, [], fixture.url)
    const before = await generations()
    const acquiredBefore = events.values.filter((event) => event.kind === 'acquired').length
    // Wait for b's heartbeat to be recorded 6 more times: b rebalanced (and wanted a second partition) meanwhile.
    const heartbeat = async () => (await adminQuery<{ at: string }>(`SELECT alive_until::text AS at FROM "${fixture.schema}".durable_members WHERE channel = 'churn' AND member = 'churn-b'`, [], fixture.url))[0]?.at
    const seen = new Set([await heartbeat()])
    await eventually(async () => seen.add(await heartbeat()).size > 6, () => `b's heartbeat was recorded ${seen.size} times`)
    expect(await generations()).toEqual(before)
    expect(events.values.filter((event) => event.kind === 'acquired').length).toBe(acquiredBefore)
    expect(events.values.filter((event) => event.kind === 'released')).toEqual([])
    await Promise.all([a.stop(), b.stop()])
  })

  it('stop() finishes the batch in flight: its leases are kept (renewed) until it commits, however long past leaseTtl', async () => {
    await cleanLedger()
    const cursors = `"${fixture.schema}".durable_cursors`
    let started: () => void = () => undefined
    const handling = new Promise<void>((resolve) => (started = resolve))
    const consumer = fixture.log.consume(
      'stop-in-flight',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'stopping')
        started()
        // Slower than the lease: returns once the lease as it stood when stop() was called has run out (server clock).
        const [row] = await adminQuery<{ until: string }>(`SELECT max(lease_until)::text AS until FROM ${cursors} WHERE channel = 'stop-in-flight' AND owner = 'stopping'`, [], fixture.url)
        await new Promise((resolve) => setTimeout(resolve, 100))
        await eventually(async () => (await adminQuery<{ passed: boolean }>('SELECT clock_timestamp() > $1::timestamptz AS passed', [row?.until], fixture.url))[0]?.passed === true, () => 'the lease never ran out')
      },
      { leaseTtl: 600, batchSize: 10, member: 'stopping' },
    )
    running.push(consumer)
    const stale = collect(consumer.events$.pipe(filter((event) => event.kind === 'stale-ack')))
    await appendKeyed('stop-in-flight', 4, 4)
    await handling
    await consumer.stop()
    expect(stale.values).toEqual([])
    expect(consumer.stats.staleAcks).toBe(0)
    expect(await ledger.count()).toBe(4)
  })

  it('stop() while a batch waits for a pool connection starts no batch: none was in flight', async () => {
    await cleanLedger()
    /** A real pool whose connect() can be held back: the application keeping its only connection a moment longer. */
    class HeldPool extends pg.Pool {
      hold: Promise<void> | undefined
      waiting = 0
      /** pg-pool's query() takes its client through connect(), within the call: those (the reads) are not held. */
      private querying = false
      constructor(config: pg.PoolConfig) {
        super(config)
        const query = this.query.bind(this) as (...args: unknown[]) => unknown
        this.query = ((...args: unknown[]) => {
          this.querying = true
          try {
            return query(...args)
          } finally {
            this.querying = false
          }
        }) as pg.Pool['query']
      }
      override connect(): Promise<pg.PoolClient>
      override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void
      override connect(callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<pg.PoolClient> | void {
        const held = this.hold
        if (held === undefined || this.querying) return callback === undefined ? super.connect() : super.connect(callback)
        this.waiting += 1
        if (callback === undefined) return held.then(() => super.connect())
        void held.then(() => super.connect(callback))
      }
    }
    const pool = new HeldPool({ connectionString: fixture.url, max: 2 })
    pool.on('error', () => undefined)
    const handled: unknown[] = []
    const consumer = fixture.openLog({ pool }).consume('stop-waiting', 'g', (messages, client) => {
      handled.push(...messages.map((message) => message.value))
      return ledger.record(messages, client, 'waiting')
    })
    running.push(consumer)
    await appendKeyed('stop-waiting', 1, 1)
    await eventually(() => handled.length === 1, () => `handled ${handled.length}`)
    // Reads go through pool.query (its own checkout); the batch's transaction through checkOut's connect(): held back.
    let release: () => void = () => undefined
    pool.hold = new Promise<void>((resolve) => (release = resolve))
    await appendKeyed('stop-waiting', 1, 1)
    await eventually(() => pool.waiting === 1, () => 'the batch never asked for its connection')
    const stopped = consumer.stop()
    release()
    await stopped
    expect(handled).toHaveLength(1)
    await pool.end()
  })

  it('runs one lease statement at a time on its lease connection, also when one is slow (a renewal never overlaps another)', async () => {
    await cleanLedger()
    const warnings: string[] = []
    const onWarning = (warning: Error) => void warnings.push(warning.message)
    process.on('warning', onWarning)
    const blocker = new pg.Client({ connectionString: fixture.url })
    await blocker.connect()
    try {
      const consumer = consume('lease-turns', 'g', 'turns', { leaseTtl: 300 })
      await eventually(() => consumer.stats.partitions.length === 16, () => `holds ${consumer.stats.partitions.length}`)
      // The group's cursor rows locked for several renewal periods: each renewal waits, and the next tick comes.
      await blocker.query('BEGIN')
      await blocker.query(`SELECT 1 FROM "${fixture.schema}".durable_cursors WHERE channel = 'lease-turns' FOR UPDATE`)
      await new Promise((resolve) => setTimeout(resolve, 500))
      await blocker.query('ROLLBACK')
      await consumer.stop()
      // pg 8 queues a second query on a busy client with this deprecation notice; pg 9 will refuse it.
      expect(warnings.filter((message) => /already executing a query/.test(message))).toEqual([])
    } finally {
      process.off('warning', onWarning)
      await blocker.end()
    }
  })

  it('keeps its leases through a handler slower than leaseTtl on a pool of one connection (renewals do not wait for the pool)', async () => {
    await cleanLedger()
    const cursors = `"${fixture.schema}".durable_cursors`
    const pools: pg.Pool[] = []
    const member = (name: string) => {
      const pool = new pg.Pool({ connectionString: fixture.url, max: 1 })
      pool.on('error', () => undefined)
      pools.push(pool)
      const consumer = fixture.openLog({ pool }).consume(
        'pool-one',
        'g',
        async (messages, client) => {
          await ledger.record(messages, client, name)
          // Slower than the lease: returns once the lease as it stood when the batch began has run out (server clock).
          const [row] = await adminQuery<{ until: string }>(`SELECT max(lease_until)::text AS until FROM ${cursors} WHERE channel = 'pool-one' AND owner = $1`, [name], fixture.url)
          await eventually(async () => (await adminQuery<{ passed: boolean }>('SELECT clock_timestamp() > $1::timestamptz AS passed', [row?.until], fixture.url))[0]?.passed === true, () => 'the lease never ran out')
        },
        { leaseTtl: 600, batchSize: 2, member: name },
      )
      running.push(consumer)
      return consumer
    }
    const a = member('pool-one-a')
    const b = member('pool-one-b')
    await appendKeyed('pool-one', 8, 8)
    await eventually(async () => (await ledger.count()) >= 8, () => `applied ${a.stats.messages} + ${b.stats.messages}; stale acks ${a.stats.staleAcks} + ${b.stats.staleAcks}`, 25_000)
    await Promise.all([a.stop(), b.stop()])
    expect(await ledger.count()).toBe(8)
    expect(await ledger.duplicates()).toEqual([])
    expect(a.stats.staleAcks + b.stats.staleAcks).toBe(0)
    await Promise.all(pools.map((pool) => pool.end()))
  }, 40_000)

  it("rejects the ack of a member whose partition was taken over meanwhile, rolling back the handler's writes", async () => {
    await cleanLedger()
    let release: () => void = () => undefined
    const blocked = new Promise<void>((resolve) => (release = resolve))
    let firstBatch = true
    let entered: () => void = () => undefined
    const inHandler = new Promise<void>((resolve) => (entered = resolve))
    const consumer = fixture.log.consume(
      'fenced',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'slow')
        if (firstBatch) {
          firstBatch = false
          entered()
          await blocked
        }
      },
      { leaseTtl: 1500, member: 'slow' },
    )
    running.push(consumer)
    const events: ConsumerEvent[] = []
    consumer.events$.subscribe((event) => events.push(event))
    await fixture.log.append('fenced', { seq: 1 }, { key: 'k' })
    await inHandler
    // Another member takes the partition over (a newer generation), as after an expired lease.
    const cursors = `"${fixture.schema}".durable_cursors`
    await adminQuery(`UPDATE ${cursors} SET owner = 'intruder', generation = generation + 1, lease_until = now() + interval '1 hour' WHERE channel = 'fenced'`, [], fixture.url)
    release()
    const stale = await firstValueFrom(consumer.events$.pipe(filter((event) => event.kind === 'stale-ack')))
    expect(stale.kind === 'stale-ack' && stale.error).toBeInstanceOf(StaleAckError)
    // Renewals run while a handler works: a lease is lost when the process stops answering, not when a handler is slow.
    expect(stale.kind === 'stale-ack' && stale.error.message).toContain('stopped answering for longer than leaseTtl (renewals go on while a handler works: paused or frozen, its event loop blocked, cut off from the database)')
    expect(stale.kind === 'stale-ack' && stale.error.message).toContain('the group was moved (log.moveGroup')
    expect(consumer.stats.staleAcks).toBe(1)
    expect(await ledger.count()).toBe(0) // the slow member's write was rolled back with its ack
    // The intruder goes away; the member takes the partition back and applies the message once.
    await adminQuery(`UPDATE ${cursors} SET owner = NULL, lease_until = '-infinity' WHERE channel = 'fenced'`, [], fixture.url)
    await eventually(async () => (await ledger.count()) === 1, () => 'not applied after the takeover ended')
    expect(await ledger.duplicates()).toEqual([])
    expect(events.some((event) => event.kind === 'released' && event.reason === 'lost')).toBe(true)
    await consumer.stop()
  })

  // A handler whose effects have a unique key fails on its own write when the new owner has applied the batch
  // first (23505): that was reported as a failed handler, and an operator chased a data bug for a lost lease.
  it('reports a handler that failed after its lease was lost as a stale ack, with the failure as its cause', async () => {
    const effects = `"${fixture.schema}".fenced_effects`
    await adminQuery(`CREATE TABLE ${effects} (token text PRIMARY KEY)`, [], fixture.url)
    for (const catches of [false, true]) {
      const channel = `fenced-unique-${catches}`
      let release: () => void = () => undefined
      const blocked = new Promise<void>((resolve) => (release = resolve))
      let entered: () => void = () => undefined
      const inHandler = new Promise<void>((resolve) => (entered = resolve))
      let firstBatch = true
      const consumer = fixture.log.consume(
        channel,
        'g',
        async (messages, client) => {
          if (firstBatch) {
            firstBatch = false
            entered()
            await blocked
          }
          const insert = client.query(`INSERT INTO ${effects} SELECT unnest($1::text[])`, [messages.map((message) => message.token)])
          // A handler that catches its statement's error returns with its transaction aborted.
          await (catches ? insert.catch(() => undefined) : insert)
        },
        { leaseTtl: 1500, member: 'slow' },
      )
      running.push(consumer)
      const events: ConsumerEvent[] = []
      consumer.events$.subscribe((event) => events.push(event))
      const token = await fixture.log.append(channel, { seq: 1 }, { key: 'k' })
      await inHandler
      // Another member takes the partition over and applies the message first.
      const cursors = `"${fixture.schema}".durable_cursors`
      const taken = await adminQuery(`UPDATE ${cursors} SET owner = 'intruder', generation = generation + 1, lease_until = now() + interval '1 hour' WHERE channel = $1 RETURNING part`, [channel], fixture.url)
      await adminQuery(`INSERT INTO ${effects} VALUES ($1)`, [token], fixture.url)
      release()
      const stale = await firstValueFrom(consumer.events$.pipe(filter((event) => event.kind === 'stale-ack' || event.kind === 'handler-failed')))
      expect(stale.kind, `handler catches: ${catches}`).toBe('stale-ack')
      const error = stale.kind === 'stale-ack' ? stale.error : undefined
      expect(error).toBeInstanceOf(StaleAckError)
      expect(error?.info.lost.map((lost) => lost.partition).sort((a, b) => a - b)).toEqual(taken.map((row) => row.part as number).sort((a, b) => a - b))
      expect(error?.cause).toBeDefined()
      expect(consumer.stats).toMatchObject({ staleAcks: 1, handlerFailures: 0 })
      expect(events.some((event) => event.kind === 'released' && event.reason === 'lost')).toBe(true)
      await consumer.stop()
    }
  })

  // The takeover statement's LIMIT was a subquery joined to the rows it updates: PostgreSQL ran it again for
  // each of them, each run skipping the rows the last had taken (locked by this very statement), so a member
  // that asked for 4 took all 12 free partitions while newcomers beside it got none (a new user's trial).
  it('takes no more than its fair share of free partitions', async () => {
    const cursors = `"${fixture.schema}".durable_cursors`
    const members = `"${fixture.schema}".durable_members`
    // Three other live members of the group (no process behind them): this one's share is ceil(16 / 4) = 4.
    await adminQuery(`INSERT INTO ${members} (channel, grp, member, alive_until) SELECT 'shares', 'g', m, now() + interval '1 hour' FROM unnest(ARRAY['x', 'y', 'z']) AS m`, [], fixture.url)
    const consumer = consume('shares', 'g', 'w')
    const events = collect(consumer.events$)
    await eventually(() => events.values.some((event) => event.kind === 'acquired'), () => 'nothing acquired')
    const owned = await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${cursors} WHERE channel = 'shares' AND grp = 'g' AND owner = 'w'`, [], fixture.url)
    expect(owned[0]?.n).toBe(4)
    expect(consumer.stats.partitions).toHaveLength(4)
    await consumer.stop()
  })

  // A member noticed a join, and a newcomer partitions given back, only at its next renewal (a third of leaseTtl):
  // 12 of 16 partitions went unworked for 3 s after members joined. A joining member, and one that gives
  // partitions back or stops, signals the group. With leaseTtl 60 s, a renewal comes every 20 s: the bounds on
  // waiting below are well under it.
  it("spreads the partitions when a member joins, and takes a stopped member's back, without waiting for a renewal", async () => {
    const cursors = `"${fixture.schema}".durable_cursors`
    let seen: Record<string, number> = {}
    const owners = async () =>
      (seen = Object.fromEntries(
        (await adminQuery<{ owner: string; n: number }>(`SELECT owner, count(*)::int AS n FROM ${cursors} WHERE channel = 'spread' AND grp = 'g' AND owner IS NOT NULL AND lease_until > now() GROUP BY owner`, [], fixture.url)).map((row) => [row.owner, row.n]),
      ))
    const first = consume('spread', 'g', 'first', { leaseTtl: 60_000 })
    await eventually(async () => (await owners()).first === 16, () => JSON.stringify(seen), 10_000)
    const second = consume('spread', 'g', 'second', { leaseTtl: 60_000 })
    await eventually(async () => JSON.stringify(await owners()) === JSON.stringify({ first: 8, second: 8 }), () => JSON.stringify(seen), 10_000)
    await first.stop()
    await eventually(async () => (await owners()).second === 16, () => JSON.stringify(seen), 10_000)
    await second.stop()
  })

  it('opens its lease connection with the password of a pool given as fields (pg-pool keeps it out of a spread)', async () => {
    const url = new URL(fixture.url)
    const pool = new pg.Pool({ host: url.hostname, port: Number(url.port), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: url.pathname.slice(1) })
    const log = createDurableLog({ listener: fixture.listener, pool, schema: fixture.schema })
    try {
      const seen: unknown[] = []
      const consumer = log.consume('by-fields', 'g', (messages) => void seen.push(...messages.map((message) => message.value)))
      const events = collect(consumer.events$)
      await log.append('by-fields', 'one')
      await eventually(() => seen.length === 1, () => `events: ${JSON.stringify(events.values.map((event) => (event.kind === 'retrying' ? String(event.error) : event.kind)))}`)
      await consumer.stop()
    } finally {
      await log.close()
      await pool.end()
    }
  })

  it("shows a group's lag (messages waiting per partition, the oldest one's age, each lease's owner) and a batch in flight", async () => {
    let unblock = () => undefined as void
    const blocked = new Promise<void>((resolve) => (unblock = resolve))
    const consumer = fixture.log.consume('lagging', 'g', () => blocked, { member: 'slow', batchSize: 10 })
    running.push(consumer)
    expect(await fixture.log.groupLag('lagging', 'nobody')).toEqual({ waiting: 0, oldestAppendedAt: undefined, expired: false, partitions: [] })
    const before = Date.now()
    for (const key of ['a', 'b', 'c']) await fixture.log.append('lagging', { key }, { key })
    await eventually(() => consumer.stats.batchStartedAt !== undefined, () => 'no batch started')
    expect(consumer.stats.batchStartedAt!.getTime()).toBeGreaterThanOrEqual(before)
    const lag = await fixture.log.groupLag('lagging', 'g')
    expect(lag.waiting).toBe(3)
    expect(lag.oldestAppendedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000)
    expect(lag.partitions).toHaveLength(16)
    expect(lag.partitions.map((p) => p.partition)).toEqual(Array.from({ length: 16 }, (_, i) => i))
    expect(lag.partitions.reduce((sum, p) => sum + p.waiting, 0)).toBe(3)
    for (const p of lag.partitions) {
      expect(p.owner).toBe('slow')
      expect(p.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now())
      expect(typeof p.cursor).toBe('string')
    }
    unblock()
    await eventually(async () => (await fixture.log.groupLag('lagging', 'g')).waiting === 0, () => 'the lag never went down')
    await eventually(() => consumer.stats.batchStartedAt === undefined, () => 'the batch never ended')
    await consumer.stop()
    const after = await fixture.log.groupLag('lagging', 'g')
    expect(after.oldestAppendedAt).toBeUndefined()
    expect(after.partitions.every((p) => p.owner === undefined && p.leaseExpiresAt === undefined)).toBe(true)
  })

  it('retries a batch whose handler threw, applying it once', async () => {
    await cleanLedger()
    let failures = 0
    const consumer = fixture.log.consume(
      'flaky',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'flaky')
        if (failures++ < 2) throw new Error('transient trouble')
      },
      { retryDelay: 50 },
    )
    running.push(consumer)
    const events = collect(consumer.events$)
    const token = await fixture.log.append('flaky', { seq: 1 })
    await eventually(async () => (await ledger.count()) === 1, () => 'never applied')
    expect(consumer.stats.handlerFailures).toBe(2)
    // Each failure says which batch failed, and how many times in a row: a message that fails every time shows.
    const failed = events.values.filter((event) => event.kind === 'handler-failed')
    expect(failed).toMatchObject([
      { error: new Error('transient trouble'), messages: 1, partitions: [expect.any(Number)], firstToken: token, lastToken: token, attempt: 1 },
      { messages: 1, firstToken: token, attempt: 2 },
    ])
    await consumer.stop()
    expect(await ledger.count()).toBe(1)
  })

  it('waits what a retryDelay function returns for each attempt (a back-off), and stops with a RangeError when it returns what no timer can wait', async () => {
    await cleanLedger()
    let failures = 0
    const asked: number[] = []
    const consumer = fixture.log.consume(
      'backing-off',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'backing-off')
        if (failures++ < 3) throw new Error('downstream is down')
      },
      {
        retryDelay: (attempt) => {
          asked.push(attempt)
          return 10 * 2 ** attempt
        },
      },
    )
    running.push(consumer)
    await fixture.log.append('backing-off', { seq: 1 })
    await eventually(async () => (await ledger.count()) === 1, () => 'never applied')
    expect(asked).toEqual([1, 2, 3])
    await consumer.stop()

    const broken = fixture.log.consume(
      'backing-off-badly',
      'g',
      () => {
        throw new Error('always')
      },
      { retryDelay: () => -1 },
    )
    running.push(broken)
    await fixture.log.append('backing-off-badly', { seq: 1 })
    await expect(broken.done).rejects.toThrow(
      new RangeError("rxpg/durable: consume retryDelay(1)'s result must be a positive number of ms, at most 2147483647 (about 24.8 days, the longest a timer can wait); got -1"),
    )
  })

  it('retries a batch whose handler swallowed an error of its own statement (its transaction aborted), applying it once', async () => {
    await cleanLedger()
    let calls = 0
    const consumer = fixture.log.consume(
      'swallowed',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'swallowed')
        if (calls++ === 0) {
          // Undone by its savepoint: the transaction goes on.
          await client.query('SAVEPOINT before')
          await client.query(`SELECT 'x'::int`).catch(() => undefined)
          await client.query('ROLLBACK TO SAVEPOINT before')
          // Caught and not rethrown: the transaction is aborted all the same, and nothing of it can commit.
          await client.query('SELECT 1/0').catch(() => undefined)
        }
      },
      { retryDelay: 50 },
    )
    running.push(consumer)
    const events = collect(consumer.events$)
    await fixture.log.append('swallowed', { seq: 1 })
    await eventually(async () => (await ledger.count()) === 1, () => 'never applied')
    expect(consumer.stats.handlerFailures).toBe(1)
    const failed = events.values.filter((event) => event.kind === 'handler-failed')
    expect(failed).toHaveLength(1)
    // The handler's statement that failed, not the ack that met the aborted transaction (25P02) after it.
    const error = failed[0]?.kind === 'handler-failed' ? failed[0].error : undefined
    expect(error).toBeInstanceOf(DurableQueryFailedError)
    expect((error as DurableQueryFailedError).info).toMatchObject({ operation: 'consume handler', sqlState: '22012' })
    expect((error as DurableQueryFailedError).message).toMatch(/division by zero.*the handler caught .* and returned/)
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
    expect(await ledger.count()).toBe(1)
  })

  it('retries a batch whose writes fail at COMMIT (a deferred constraint), as a failed handler, and stays alive', async () => {
    const table = `"${fixture.schema}".deferred_effects`
    await adminQuery(`CREATE TABLE ${table} (seq int, CONSTRAINT one_per_seq UNIQUE (seq) DEFERRABLE INITIALLY DEFERRED)`, [], fixture.url)
    await adminQuery(`INSERT INTO ${table} VALUES (1)`, [], fixture.url)
    const consumer = fixture.log.consume(
      'deferred',
      'g',
      async (messages, client) => {
        for (const message of messages) await client.query(`INSERT INTO ${table} VALUES ($1)`, [(message.value as { seq: number }).seq])
      },
      { retryDelay: 50 },
    )
    running.push(consumer)
    const events = collect(consumer.events$)
    await fixture.log.append('deferred', { seq: 1 })
    await eventually(() => consumer.stats.handlerFailures >= 1, () => `events: ${JSON.stringify(events.values.map((event) => event.kind))}`)
    const [failed] = events.values.filter((event) => event.kind === 'handler-failed')
    expect(failed).toMatchObject({ kind: 'handler-failed', messages: 1, attempt: 1 })
    const error = (failed as { error: unknown }).error
    expect(error).toBeInstanceOf(DurableQueryFailedError)
    expect((error as DurableQueryFailedError).info).toMatchObject({ operation: 'consume commit', sqlState: '23505' })
    // The row in the way goes: the batch comes again and commits, once.
    await adminQuery(`DELETE FROM ${table}`, [], fixture.url)
    await eventually(async () => (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`, [], fixture.url))[0]?.n === 1, () => 'never applied')
    await eventually(() => consumer.stats.batches === 1, () => `batches ${consumer.stats.batches}`)
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
  })

  it('lets a handler undo part of its writes with savepoints (ROLLBACK TO SAVEPOINT has the same tag as ROLLBACK)', async () => {
    await cleanLedger()
    const consumer = fixture.log.consume(
      'savepoints',
      'g',
      async (messages, client) => {
        await client.query('SAVEPOINT one')
        await ledger.record(messages, client, 'undone')
        await client.query('ROLLBACK TO SAVEPOINT one')
        await client.query('SAVEPOINT two; ROLLBACK TO SAVEPOINT two; RELEASE SAVEPOINT two')
        await ledger.record(messages, client, 'kept')
      },
      { from: 'earliest' },
    )
    running.push(consumer)
    await fixture.log.append('savepoints', { seq: 1 })
    await eventually(() => consumer.stats.batches === 1, () => `batches ${consumer.stats.batches}`)
    expect(await ledger.count()).toBe(1)
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
  })

  // Ported code: a COMMIT or ROLLBACK left as it is, one followed by a BEGIN of its own (its transaction goes on,
  // another one), and that, throwing: each would have its writes and the cursor commit apart (the throw: again
  // at every retry).
  for (const [ending, throws] of [['COMMIT', false], ['ROLLBACK', false], ['COMMIT; BEGIN', false], ['COMMIT; BEGIN', true]] as const) {
    it(`stops with HandlerEndedTransactionError when the handler ends its transaction (${ending}${throws ? ', then throws' : ''}), without acknowledging the batch`, async () => {
      await cleanLedger()
      const channel = `ended-${ending.toLowerCase().replace(/\W+/g, '-')}${throws ? '-throws' : ''}`
      const token = await fixture.log.append(channel, { seq: 1 })
      const wrong = fixture.log.consume(
        channel,
        'g',
        async (messages, client) => {
          await ledger.record(messages, client, 'wrong')
          await client.query(ending)
          if (throws) throw new Error('failed after its own COMMIT')
        },
        { from: 'earliest', retryDelay: 50 },
      )
      running.push(wrong)
      const error: unknown = await wrong.done.then(() => undefined, (failure: unknown) => failure)
      expect(error).toBeInstanceOf(HandlerEndedTransactionError)
      expect((error as HandlerEndedTransactionError).info).toMatchObject({ channel, group: 'g', firstToken: token, lastToken: token })
      expect((error as Error).message).toMatch(/ended the transaction/)
      // Not acknowledged: the group's next member gets the batch again (at least once; a COMMIT applied it already).
      const right = consume(channel, 'g', 'right', { from: 'earliest' })
      await eventually(async () => (await ledger.count()) === (ending === 'ROLLBACK' ? 1 : 2), () => "the batch never came again")
      await right.stop()
    })
  }

  it('after a failed batch of a backlog, gets that same batch again, then the rest, each message once', async () => {
    await cleanLedger()
    await appendKeyed('backlog-retry', 100, 1)
    const firstSeqs: number[] = []
    let calls = 0
    const consumer = fixture.log.consume(
      'backlog-retry',
      'g',
      async (messages, client) => {
        firstSeqs.push((messages[0]?.value as { seq: number }).seq)
        await ledger.record(messages, client, 'retry')
        if (++calls === 3) throw new Error('transient trouble')
      },
      { retryDelay: 50, batchSize: 10 },
    )
    running.push(consumer)
    await eventually(() => consumer.stats.messages === 100, () => `${consumer.stats.messages} applied`)
    await consumer.stop()
    expect(firstSeqs).toEqual([1, 11, 21, 21, 31, 41, 51, 61, 71, 81, 91])
    expect(await ledger.count()).toBe(100)
    expect(await ledger.duplicates()).toEqual([])
  })

  it('retries, as a failed handler, a batch whose session idle_in_transaction_session_timeout ended while the handler blocked the event loop (SQLSTATE 25P03)', async () => {
    await cleanLedger()
    const pool = new pg.Pool({ connectionString: fixture.url, max: 4, idle_in_transaction_session_timeout: 200 })
    pool.on('error', () => undefined)
    const log = fixture.openLog({ pool })
    let blocked = false
    const consumer = log.consume(
      'iito',
      'g',
      async (messages, client) => {
        await ledger.record(messages, client, 'iito')
        if (blocked) return
        blocked = true
        const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows
        // A CPU-bound step: the event loop is blocked until the server has ended this idle-in-transaction session.
        const waited = spawnSync(process.execPath, ['-e', sessionGone], { env: { ...process.env, URL: fixture.url, PID: String(row?.pid) }, encoding: 'utf8' })
        if (waited.status !== 0) throw new Error(`waiting for the session's end failed: ${waited.stderr}`)
      },
      { retryDelay: 50 },
    )
    running.push(consumer)
    const events = collect(consumer.events$)
    await fixture.log.append('iito', { seq: 1 })
    await eventually(async () => (await ledger.count()) === 1, () => `never applied; events: ${JSON.stringify(events.values.map((event) => event.kind))}`)
    // The handler's doing (durable-idle-timeout.spec.ts), not a broken connection's: no `retrying`.
    const failed = events.values.flatMap((event) => (event.kind === 'handler-failed' ? [event.error] : []))
    expect(failed.some((error) => error instanceof DurableQueryFailedError && error.info.sqlState === '25P03')).toBe(true)
    expect(events.values.map((event) => event.kind)).not.toContain('retrying')
    await consumer.stop()
    await expect(consumer.done).resolves.toBeUndefined()
    expect(await ledger.count()).toBe(1)
    await log.close()
    await pool.end()
  })

  // Retries of the batches and of the lease statements came as the same operation, 'consume', in pairs: an
  // operator could not tell which failed.
  it("says a failed lease statement is the consumer lease's, apart from the batches'", async () => {
    const name = `lease-spec-${process.pid}`
    const pool = new pg.Pool({ connectionString: fixture.url, max: 4, application_name: name })
    pool.on('error', () => undefined)
    const log = fixture.openLog({ pool })
    const consumer = log.consume('lease-ops', 'g', async () => undefined, { leaseTtl: 900, retryDelay: 50 })
    const events = collect(consumer.events$)
    await eventually(() => events.values.some((event) => event.kind === 'acquired'), () => 'no lease acquired')
    // A renewal waits behind a lock on the group's cursor rows, and its session is ended while it waits.
    const locker = new pg.Client({ connectionString: fixture.url })
    await locker.connect()
    await locker.query('BEGIN')
    await locker.query(`SELECT 1 FROM "${fixture.schema}".durable_cursors WHERE channel = 'lease-ops' FOR UPDATE`)
    let waiting: number[] = []
    await eventually(
      async () =>
        (waiting = (await adminQuery<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [name], fixture.url)).map((row) => row.pid))
          .length > 0,
      () => 'no lease statement waits on the lock',
    )
    await adminQuery('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [waiting], fixture.url)
    await locker.query('ROLLBACK')
    await locker.end()
    await eventually(
      () => events.values.some((event) => event.kind === 'retrying' && event.error instanceof DurableQueryFailedError && event.error.info.operation === 'consumer lease'),
      () => `retries: ${JSON.stringify(events.values.filter((event) => event.kind === 'retrying').map((event) => String((event as { error: unknown }).error)))}`,
    )
    await consumer.stop()
    await log.close()
    await pool.end()
  })

  it('starts a new group right after a token (and an existing group ignores it)', async () => {
    await cleanLedger()
    const first = await fixture.log.append('starts-token', { seq: 1 }, { key: 'x' })
    await fixture.log.append('starts-token', { seq: 2 }, { key: 'x' })
    const after = consume('starts-token', 'after-first', 'after-first', { from: first })
    await eventually(() => after.stats.messages === 1, () => `got ${after.stats.messages}`)
    const seqs = (await adminQuery<{ seq: number }>(`SELECT seq FROM ${ledger.table} WHERE member = 'after-first' ORDER BY applied`, [], fixture.url)).map((row) => row.seq)
    expect(seqs).toEqual([2])
    await after.stop()
  })

  it("starts a new group at 'now' or 'earliest', and resumes an existing group where it stopped", async () => {
    await cleanLedger()
    await fixture.log.append('starts', { seq: 1 }, { key: 'x' })
    const late = consume('starts', 'late', 'late', { from: 'now' })
    const early = consume('starts', 'early', 'early', { from: 'earliest' })
    await eventually(() => early.stats.messages === 1 && late.stats.partitions.length === 16, () => 'groups did not start')
    await fixture.log.append('starts', { seq: 2 }, { key: 'x' })
    // 'now' starts at the snapshot horizon: what commits later is never missed; a message that committed just
    // before may still be included when another transaction held the horizon (other specs share the server).
    await eventually(() => early.stats.messages === 2 && late.stats.messages >= 1, () => `late=${late.stats.messages} early=${early.stats.messages}`)
    const lateSeqs = (await adminQuery<{ seq: number }>(`SELECT seq FROM ${ledger.table} WHERE member = 'late' ORDER BY applied`, [], fixture.url)).map((row) => row.seq)
    expect([[2], [1, 2]]).toContainEqual(lateSeqs)
    await early.stop()
    await fixture.log.append('starts', { seq: 3 }, { key: 'x' })
    const again = consume('starts', 'early', 'early-again')
    await eventually(() => again.stats.messages === 1, () => `resumed group got ${again.stats.messages}`)
    const rows = await adminQuery<{ member: string; seq: number }>(`SELECT member, seq FROM ${ledger.table} WHERE member LIKE 'early%' ORDER BY applied`, [], fixture.url)
    expect(rows).toEqual([
      { member: 'early', seq: 1 },
      { member: 'early', seq: 2 },
      { member: 'early-again', seq: 3 },
    ])
    await Promise.all([late.stop(), again.stop()])
  })
})
