// What a durable log refuses before it touches the database: schema names PostgreSQL would not keep as given,
// page limits that are not positive whole numbers, keys PostgreSQL cannot store. Nothing here connects: the
// pool is a connection string that is never used.
import { describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog, durableSchemaSql, DurableSchemaMissingError, InvalidTokenError, type DurableLogOptions } from '../../lib/durable/index.js'
import { parseToken } from '../../lib/durable/position.js'

const nowhere = 'postgres://nobody@127.0.0.1:1/none'

describe('a durable log', () => {
  it.each([
    ['empty', ''],
    ['over 63 bytes of UTF-8 (PostgreSQL would cut it, and two such logs would share a schema)', 'ü'.repeat(32)],
    ['holding a NUL', 'a\0b'],
  ])('refuses a schema name that is %s, naming what is allowed', (_what, schema) => {
    const listener = createPgListener(nowhere)
    expect(() => createDurableLog({ listener, pool: nowhere, schema })).toThrow(/schema must be a name of 1 to 63 bytes of UTF-8, without NUL/)
    expect(() => durableSchemaSql({ schema })).toThrow(/schema must be a name of 1 to 63 bytes of UTF-8, without NUL/)
    void listener.close()
  })

  it('refuses a page limit that is not a positive whole number, and a key holding a NUL, before any query', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({ listener, pool: nowhere })
    for (const limit of [0, -1, 1.5, Number.NaN]) await expect(log.fetch('orders', { after: 'earliest', limit })).rejects.toThrow(/fetch limit must be a positive integer/)
    await expect(log.append('orders', 1, { key: 'a\0b' })).rejects.toMatchObject({ code: 'DURABLE_INVALID_VALUE', message: expect.stringMatching(/key must not hold a NUL/) })
    await log.close()
    await listener.close()
  })

  it.each([
    ['a transaction id of 23 digits', 'rxd1.abc.1.12345678901234567890123.5', 'a number is out of range'],
    ['a transaction id of 19 digits above bigint', 'rxd1.abc.1.9999999999999999999.5', 'a number is out of range'],
    ['a leading zero', 'rxd1.abc.1.012.5', 'its position is not made of decimal numbers'],
    ['a sign', 'rxd1.abc.1.-12.5', 'its position is not made of decimal numbers'],
  ])('says why a token with %s is malformed', (_what, token, detail) => {
    const error = (() => {
      try {
        parseToken(token)
      } catch (caught) {
        return caught
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(InvalidTokenError)
    expect((error as InvalidTokenError).info).toMatchObject({ reason: 'malformed', detail })
  })

  it('says to upgrade rxpg when the schema is newer than this rxpg (running its SQL again cannot downgrade it)', () => {
    const newer = new DurableSchemaMissingError({ schema: 'rxpg', reason: 'outdated', expectedVersion: 1, foundVersion: 2, detail: 'durable_meta.version is 2' })
    expect(newer.message).toMatch(/newer than this rxpg.*upgrade rxpg/)
    expect(newer.message).not.toContain('npx rxpg sql durable')
  })

  it.each([
    ['pollInterval', { pollInterval: 0 }, '0'],
    ['pollInterval', { pollInterval: 2 ** 31 }, '2147483648'],
    ['wakeWindow', { wakeWindow: -1 }, '-1'],
    ['batchSize', { batchSize: 0 }, '0'],
    ['batchSize', { batchSize: 1.5 }, '1.5'],
    ['partitions', { partitions: 0 }, '0'],
    ['partitions', { partitions: 1025 }, '1025'],
    ['retention.maxAge', { retention: { maxAge: Number.NaN } }, 'NaN'],
    ['retention.maxBytes', { retention: { maxBytes: 1.5 } }, '1.5'],
    ['retention.partitionSpan', { retention: { partitionSpan: 999 } }, '999'],
    // Made in whole seconds: 1500 became a 2 s partition; above 2^31 - 1 seconds, maintenance failed for ever.
    ['retention.partitionSpan', { retention: { partitionSpan: 1500 } }, '1500'],
    ['retention.partitionSpan', { retention: { partitionSpan: 2_147_483_648_000 } }, '2147483648000'],
    ['retention.maxAge', { retention: { maxAge: 1e15 } }, '1000000000000000'],
    ['batchSize', { batchSize: 2 ** 60 }, '1152921504606847000'],
    ['retention.premake', { retention: { premake: -1 } }, '-1'],
    ['maintenanceInterval', { maintenanceInterval: 0 }, '0'],
    ['stall.threshold', { stall: { threshold: Number.NaN } }, 'NaN'],
    ['appendBatch.maxBatchSize', { appendBatch: { maxBatchSize: 0 } }, '0'],
    ['appendBatch.maxQueue', { appendBatch: { maxQueue: Number.NaN } }, 'NaN'],
    ['closeTimeout', { closeTimeout: -1 }, '-1'],
    ['closeTimeout', { closeTimeout: 2 ** 31 }, '2147483648'],
  ] as const)('refuses %s = %o when the log is made, naming it (a batch of 0 rows read again and again, appends that never leave the queue)', (option, options, shown) => {
    const listener = createPgListener(nowhere)
    const make = () => createDurableLog({ listener, pool: nowhere, ...(options as Partial<DurableLogOptions>) })
    expect(make).toThrow(RangeError)
    expect(make).toThrow(new RegExp(`^rxpg/durable: ${option.replace('.', '\\.')} must be .*; got ${shown.replace('.', '\\.')}$`))
    void listener.close()
  })

  it('takes the edges of its options, and Infinity for closeTimeout', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({
      listener,
      pool: nowhere,
      pollInterval: 2 ** 31 - 1,
      wakeWindow: 0,
      batchSize: 1,
      partitions: 1024,
      retention: { maxAge: null, maxBytes: null, partitionSpan: 1000, premake: 0 },
      maintenanceInterval: false,
      appendBatch: { maxBatchSize: 1, maxQueue: 1 },
      closeTimeout: Infinity,
    })
    await log.close()
    await listener.close()
  })

  it('refuses consume options, a group name and a read batch size it cannot honour, before any query', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({ listener, pool: nowhere })
    const handler = async () => undefined
    for (const options of [{ batchSize: 0 }, { leaseTtl: 0 }, { leaseTtl: Number.NaN }, { leaseTtl: 99 }, { retryDelay: 0 }]) {
      expect(() => log.consume('orders', 'billing', handler, options), JSON.stringify(options)).toThrow(/^rxpg\/durable: consume (batchSize|leaseTtl|retryDelay) must be/)
    }
    for (const group of ['', 'a\0b', 'a\uD800', 42]) {
      expect(() => log.consume('orders', group as string, handler), String(group)).toThrow(/consumer group's name must be a non-empty string without NUL or lone UTF-16 surrogates/)
    }
    expect(() => log.read('orders', { batchSize: 0 })).toThrow(/^rxpg\/durable: read batchSize must be a positive integer; got 0$/)
    expect(() => log.iterate('orders', { batchSize: Number.NaN })).toThrow(/^rxpg\/durable: iterate batchSize must be a positive integer; got NaN$/)
    await log.close()
    await listener.close()
  })

  it('refuses a key with a lone surrogate (it would come back as U+FFFD, another key), and names what a non-string channel was', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({ listener, pool: nowhere })
    await expect(log.append('orders', 1, { key: 'a\uD800' })).rejects.toMatchObject({ code: 'DURABLE_INVALID_VALUE', message: expect.stringMatching(/lone UTF-16 surrogate/) })
    await expect(log.append(42 as unknown as string, 1)).rejects.toThrow(/expected a string, got number/)
    expect(() => listener.channel(null as unknown as string)).toThrow(/expected a string, got null/)
    await log.close()
    await listener.close()
  })
})

/**
 * A misspelt log option ran with its default without a word: `retention: { maxage }` kept every message for
 * ever, `pollIntervall` polled every second. Each is a TypeError naming the option and those taken there.
 */
describe("a durable log's option names", () => {
  const TOP =
    '{ listener, pool, schema, scheduler, pollInterval, wakeWindow, batchSize, partitions, retention, maintenanceInterval, stall, appendBatch, prepare, closeTimeout }'
  it.each([
    [{ pollIntervall: 500 }, `rxpg/durable: createDurableLog has no option "pollIntervall"; its options are ${TOP}`],
    [{ retention: { maxage: 1000 } }, `rxpg/durable: createDurableLog's retention has no option "maxage"; its options are { maxAge, maxBytes, partitionSpan, premake }`],
    [{ stall: { thresold: 1000 } }, `rxpg/durable: createDurableLog's stall has no option "thresold"; its options are { threshold, interval }`],
    [{ appendBatch: { batchSize: 10 } }, `rxpg/durable: createDurableLog's appendBatch has no option "batchSize"; its options are { maxBatchSize, maxQueue }`],
    [{ retention: '7d' }, `rxpg/durable: createDurableLog's retention must be an object { maxAge, maxBytes, partitionSpan, premake }; got a string ("7d")`],
    [{ stall: true }, `rxpg/durable: createDurableLog's stall must be an object { threshold, interval }, or false; got a boolean`],
  ])('refuses %o, naming the option', (extra, message) => {
    const listener = createPgListener(nowhere)
    const make = () => createDurableLog({ listener, pool: nowhere, ...extra } as DurableLogOptions)
    expect(make).toThrow(TypeError)
    expect(make).toThrow(message)
    void listener.close()
  })

  it.each([
    [undefined, `rxpg/durable: createDurableLog's options must be an object ${TOP}; got undefined`],
    [{ pool: nowhere }, 'rxpg/durable: createDurableLog needs listener: the rxpg listener (createPgListener) that wakes its readers; got undefined'],
    [{ listener: {}, pool: nowhere }, 'rxpg/durable: createDurableLog needs listener: the rxpg listener (createPgListener) that wakes its readers; got an object without channel, state$ and notify'],
  ])('refuses %o without a listener, saying what it needs', (options, message) => {
    const make = () => createDurableLog(options as unknown as DurableLogOptions)
    expect(make).toThrow(TypeError)
    expect(make).toThrow(message)
  })

  it('refuses a log without a pool, saying what it takes', () => {
    const listener = createPgListener(nowhere)
    const make = () => createDurableLog({ listener } as unknown as DurableLogOptions)
    expect(make).toThrow(TypeError)
    expect(make).toThrow('rxpg/durable: createDurableLog needs pool: a pg.Pool, a connection string or a pg.PoolConfig; got undefined')
    void listener.close()
  })

  // An ORM's transaction object passed as the client failed with "(client ?? this.pool).query is not a
  // function", blamed on opening the log.
  it('refuses an append client that is not a pg client, saying what to pass', async () => {
    const listener = createPgListener(nowhere)
    const log = createDurableLog({ listener, pool: nowhere })
    class Transaction {
      executeQuery(): void {}
    }
    const described: Array<[unknown, string]> = [
      [{}, 'an object'],
      [{ executeQuery: () => undefined }, 'an object'],
      [new Transaction(), 'a Transaction object'],
      ['trx', 'a string ("trx")'],
    ]
    for (const [client, got] of described) {
      const appended = log.append('orders', 1, { client: client as never })
      await expect(appended).rejects.toThrow(TypeError)
      await expect(appended).rejects.toThrow(
        /^rxpg\/durable: append's client must be the pg client your transaction runs on \(a pg\.Client, or a pool client\), with query\(text, values\); got /,
      )
      await expect(appended).rejects.toThrow(`; got ${got}. An ORM's`)
    }
    await log.close()
    await listener.close()
  })
})
