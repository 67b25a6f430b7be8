/**
 * A change stream refuses options it cannot honour when it is made, with an error that names the option and
 * the value, rather than run with them: a status interval of 0 or NaN would tick in a loop, a
 * `maxUnacknowledged` of NaN would never pause.
 */
import { describe, expect, it } from 'vitest'
import { changeStream, ensureReplication, InvalidReplicationTokenError, ReplicationSetupError, replicationSetupSql, transactionStream, type ChangeStreamOptions } from '../../lib/replication/index.js'

const names = { slot: 'orders_feed', publication: 'orders_pub' }
const make = (options: Partial<ChangeStreamOptions>) => () => changeStream('postgres://app@localhost/app', { ...names, ...options })

/** The longest a timer can wait (Node runs a longer one after 1 ms): every time option is bounded by it. */
const LONGEST = '2147483647 (about 24.8 days, the longest a timer can wait)'
const POSITIVE_MS = `a positive number of ms, at most ${LONGEST}`
const NON_NEGATIVE_MS = `a number of ms from 0 to ${LONGEST}`

describe('replication stream options', () => {
  it.each([
    ['maxUnacknowledged', { maxUnacknowledged: 0 }, 'a positive integer', '0'],
    ['maxUnacknowledged', { maxUnacknowledged: Number.NaN }, 'a positive integer', 'NaN'],
    ['maxUnacknowledged', { maxUnacknowledged: 2.5 }, 'a positive integer', '2.5'],
    ['statusInterval', { statusInterval: 0 }, POSITIVE_MS, '0'],
    ['statusInterval', { statusInterval: Number.NaN }, POSITIVE_MS, 'NaN'],
    ['statusInterval', { statusInterval: Infinity }, POSITIVE_MS, 'Infinity'],
    ['recheckInterval (or false)', { recheckInterval: 0 }, POSITIVE_MS, '0'],
    ['recheckInterval (or false)', { recheckInterval: Number.NaN }, POSITIVE_MS, 'NaN'],
    ['recheckInterval (or false)', { recheckInterval: null as unknown as number }, POSITIVE_MS, 'null'],
    ['connectTimeout', { connectTimeout: -1 }, POSITIVE_MS, '-1'],
    ['connectTimeout', { connectTimeout: 2 ** 31 }, POSITIVE_MS, '2147483648'],
    ['healthCheck.interval', { healthCheck: { interval: 0 } }, POSITIVE_MS, '0'],
    ['healthCheck.timeout', { healthCheck: { timeout: Number.NaN } }, POSITIVE_MS, 'NaN'],
    ['slotInUseTimeout', { slotInUseTimeout: -5 }, NON_NEGATIVE_MS, '-5'],
    ['gatherReads.behind', { gatherReads: { behind: -1 } }, NON_NEGATIVE_MS, '-1'],
    ['gatherReads.window', { gatherReads: { window: 0 } }, POSITIVE_MS, '0'],
    ['gatherReads.window', { gatherReads: { window: Infinity } }, POSITIVE_MS, 'Infinity'],
  ] as const)('refuses %s = %o at once, naming it', (option, options, expected, shown) => {
    expect(make(options)).toThrow(RangeError)
    expect(make(options)).toThrow(`rxpg/replication: ${option} must be ${expected}; got ${shown}`)
  })

  it('refuses them for a transaction stream too', () => {
    expect(() => transactionStream('postgres://app@localhost/app', { ...names, statusInterval: -1 })).toThrow(RangeError)
  })

  it('takes the defaults, and values at the edges, without connecting', async () => {
    for (const options of [{}, { maxUnacknowledged: 1, statusInterval: 1, slotInUseTimeout: 0, connectTimeout: 1, healthCheck: false as const, gatherReads: false as const }, { gatherReads: { behind: 0, window: 1 } }]) {
      const stream = make(options)()
      await stream.close()
    }
  })

  it('refuses a resume token that is not one at once', () => {
    expect(make({ resumeAfter: 'not-a-token' })).toThrow(InvalidReplicationTokenError)
  })

  it('refuses a slot name that is not one in the set-up SQL and in ensureReplication too, at once', async () => {
    for (const slot of ['Bad', "x'; drop", 'a'.repeat(64), '']) {
      expect(() => replicationSetupSql({ slot, publication: 'p', tables: ['t'] })).toThrow(ReplicationSetupError)
      const refused = await ensureReplication('postgres://app@127.0.0.1:1/app', { slot, publication: 'p', tables: ['t'] }).catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(ReplicationSetupError)
      expect((refused as ReplicationSetupError).info.reason).toBe('invalid-name')
    }
  })
})

/**
 * A misspelt option ran with its default without a word: `resumeFrom: token` started from the slot's position
 * rather than after the token the user stored with its effects. Each is a TypeError naming the option.
 */
describe('replication stream option names', () => {
  const TOP =
    '{ slot, publication, resumeAfter, until, onInvalid, maxUnacknowledged, statusInterval, checkpoints, recheckInterval, healthCheck, gatherReads, reconnect, connectTimeout, slotInUseTimeout, scheduler, source, tables }'
  it.each([
    [{ resumeFrom: 'x' }, `rxpg/replication: changeStream has no option "resumeFrom"; its options are ${TOP}`],
    [{ healthCheck: { intervall: 5 } }, `rxpg/replication: changeStream's healthCheck has no option "intervall"; its options are { interval, timeout }`],
    [{ gatherReads: { behnd: 5 } }, `rxpg/replication: changeStream's gatherReads has no option "behnd"; its options are { behind, window }`],
    [{ reconnect: { maxDelai: 5 } }, `rxpg/replication: changeStream's reconnect has no option "maxDelai"; its options are { initialDelay, maxDelay, factor, jitter, random }`],
  ])('refuses %o, naming the option', (options, message) => {
    expect(make(options as Partial<ChangeStreamOptions>)).toThrow(TypeError)
    expect(make(options as Partial<ChangeStreamOptions>)).toThrow(message)
    expect(() => transactionStream('postgres://app@localhost/app', { ...names, ...(options as object) })).toThrow(message.replace('changeStream', 'transactionStream'))
  })

  it('refuses options that are not an object', () => {
    expect(() => changeStream('postgres://app@localhost/app', 'orders_feed' as never)).toThrow(`rxpg/replication: changeStream's options must be an object ${TOP}; got a string ("orders_feed")`)
  })

  it.each([undefined, null, ''])('refuses %s as the connection, naming the call', (config) => {
    for (const make of [changeStream, transactionStream] as const) {
      expect(() => make(config as never, { slot: 'feed', publication: 'orders' })).toThrow(
        new TypeError(
          `rxpg/replication: ${make.name}'s first argument is the connection: a connection string or a pg config object; got ${config === '' ? 'an empty string' : String(config)} (is DATABASE_URL set?). To connect with the PG* environment variables alone, pass {}`,
        ),
      )
    }
  })
})
