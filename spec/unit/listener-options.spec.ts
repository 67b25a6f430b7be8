/**
 * createPgListener refuses numeric options it cannot honour when it is made, with a RangeError that names the
 * option and the value, rather than run with them: a health-check interval of 0 or NaN would tick in a loop, a
 * `notify.maxQueue` of NaN would never refuse, a jitter of 2 would make negative delays.
 */
import { describe, expect, it } from 'vitest'
import { createPgListener, type PgListenerOptions } from '../../lib/index.js'

const make = (options: PgListenerOptions) => () => createPgListener('postgres://app@localhost/app', options)

/** The longest a timer can wait (Node runs a longer one after 1 ms): every time option is bounded by it. */
const LONGEST = '2147483647 (about 24.8 days, the longest a timer can wait)'
const POSITIVE_MS = `a positive number of ms, at most ${LONGEST}`
const NON_NEGATIVE_MS = `a number of ms from 0 to ${LONGEST}`

describe('listener options', () => {
  it.each([
    ['connectTimeout', { connectTimeout: 0 }, POSITIVE_MS, '0'],
    ['connectTimeout', { connectTimeout: Number.NaN }, POSITIVE_MS, 'NaN'],
    // 2^31 ms: Node would run the timer after 1 ms, so every attempt would time out at once.
    ['connectTimeout', { connectTimeout: 2 ** 31 }, POSITIVE_MS, '2147483648'],
    ['healthCheck.interval', { healthCheck: { interval: 30 * 24 * 60 * 60 * 1000 } }, POSITIVE_MS, '2592000000'],
    ['selfProbe.timeout', { selfProbe: { timeout: 2 ** 31 } }, POSITIVE_MS, '2147483648'],
    ['reconnect.maxDelay', { reconnect: { maxDelay: 2 ** 31 } }, NON_NEGATIVE_MS, '2147483648'],
    ['healthCheck.interval', { healthCheck: { interval: 0 } }, POSITIVE_MS, '0'],
    ['healthCheck.timeout', { healthCheck: { timeout: Infinity } }, POSITIVE_MS, 'Infinity'],
    ['selfProbe.timeout', { selfProbe: { timeout: -1 } }, POSITIVE_MS, '-1'],
    ['reconnect.initialDelay', { reconnect: { initialDelay: -1 } }, NON_NEGATIVE_MS, '-1'],
    ['reconnect.maxDelay', { reconnect: { maxDelay: Number.NaN } }, NON_NEGATIVE_MS, 'NaN'],
    ['reconnect.factor', { reconnect: { factor: 0.5 } }, 'a finite number, 1 or more', '0.5'],
    ['reconnect.jitter', { reconnect: { jitter: 2 } }, 'a number from 0 to 1', '2'],
    ['notify.maxQueue', { notify: { maxQueue: Number.NaN } }, 'a positive integer', 'NaN'],
    ['notify.maxBatchSize', { notify: { maxBatchSize: 0 } }, 'a positive integer', '0'],
    ['notify.batchWindow', { notify: { batchWindow: -5 } }, NON_NEGATIVE_MS, '-5'],
    ['notify.timeout', { notify: { timeout: 0 } }, POSITIVE_MS, '0'],
    ['notify.sendTimeout', { notify: { sendTimeout: Number.NaN } }, POSITIVE_MS, 'NaN'],
    ['notify.closeTimeout', { notify: { closeTimeout: -1 } }, NON_NEGATIVE_MS, '-1'],
  ] as const)('refuses %s = %o at once, naming it', (option, options, expected, shown) => {
    expect(make(options)).toThrow(RangeError)
    expect(make(options)).toThrow(`rxpg: ${option} must be ${expected}; got ${shown}`)
  })

  it('takes the defaults, and values at the edges, without connecting', async () => {
    const edges: PgListenerOptions = {
      connectTimeout: 2 ** 31 - 1,
      healthCheck: { interval: 1, timeout: 2 ** 31 - 1 },
      selfProbe: { timeout: 1 },
      reconnect: { initialDelay: 0, maxDelay: 0, factor: 1, jitter: 0 },
      notify: { maxQueue: 1, maxBatchSize: 1, batchWindow: 0, timeout: 1, sendTimeout: 1, closeTimeout: 0 },
    }
    for (const options of [{}, edges, { healthCheck: false as const, selfProbe: false as const, reconnect: { jitter: 1 } }]) {
      const db = make(options)()
      await db.close()
    }
  })
})

/**
 * A misspelt option, or one put in the wrong argument, used to be dropped without a word: `reconect` ran with
 * the default back-off, and `createPgListener({ connectionString, reconnect })` handed `reconnect` to pg, which
 * ignores what it does not know. Each is a TypeError naming the option and what is taken there.
 */
describe('listener option names', () => {
  const TOP = '{ scheduler, reconnect, connectTimeout, healthCheck, selfProbe, notify, source, transport, log }'
  it.each([
    [{ reconect: { maxDelay: 1 } }, `rxpg: createPgListener has no option "reconect"; its options are ${TOP}`],
    [{ reconnect: { max: 5 } }, `rxpg: createPgListener's reconnect has no option "max"; its options are { initialDelay, maxDelay, factor, jitter, random }`],
    [{ healthCheck: { intervall: 1000 } }, `rxpg: createPgListener's healthCheck has no option "intervall"; its options are { interval, timeout }`],
    [{ selfProbe: { timout: 1000 } }, `rxpg: createPgListener's selfProbe has no option "timout"; its options are { timeout }`],
    [{ notify: { batchSize: 10 } }, `rxpg: createPgListener's notify has no option "batchSize"; its options are { maxQueue, maxBatchSize, batchWindow, timeout, sendTimeout, closeTimeout, pool }`],
    [{ reconnect: 5 }, 'rxpg: createPgListener\'s reconnect must be an object { initialDelay, maxDelay, factor, jitter, random }; got a number'],
    [{ healthCheck: true }, 'rxpg: createPgListener\'s healthCheck must be an object { interval, timeout }, or false; got a boolean'],
  ])('refuses %o, naming the option', (options, message) => {
    const make = () => createPgListener('postgres://app@localhost/app', options as PgListenerOptions)
    expect(make).toThrow(TypeError)
    expect(make).toThrow(message)
  })

  it('refuses options that are not an object, and takes null as the defaults', async () => {
    expect(() => createPgListener('postgres://app@localhost/app', 'reconnect' as unknown as PgListenerOptions)).toThrow(
      `rxpg: createPgListener's options must be an object ${TOP}; got a string ("reconnect")`,
    )
    await createPgListener('postgres://app@localhost/app', null as unknown as PgListenerOptions).close()
  })

  it.each([
    [undefined, 'undefined'],
    [null, 'null'],
    ['', 'an empty string'],
    [42, 'a number'],
  ])('refuses %s as the connection (an unset DATABASE_URL retried localhost for ever)', (config, described) => {
    expect(() => createPgListener(config as never)).toThrow(
      new TypeError(
        `rxpg: createPgListener's first argument is the connection: a connection string or a pg config object; got ${described} (is DATABASE_URL set?). To connect with the PG* environment variables alone, pass {}`,
      ),
    )
  })

  it.each(['reconnect', 'healthCheck', 'selfProbe', 'notify', 'scheduler', 'connectTimeout', 'log'])('refuses the listener option %s in the connection config', (option) => {
    const make = () => createPgListener({ connectionString: 'postgres://app@localhost/app', [option]: {} })
    expect(make).toThrow(TypeError)
    expect(make).toThrow(`rxpg: ${option} is an option of createPgListener's second argument, not of the connection config (pg would ignore it): createPgListener(config, { ${option} })`)
  })
})
