/**
 * createPgListener refuses numeric options it cannot honour when it is made, with a RangeError that names the
 * option and the value, rather than run with them: a health-check interval of 0 or NaN would tick in a loop, a
 * `notify.maxQueue` of NaN would never refuse, a jitter of 2 would make negative delays.
 */
import { describe, expect, it } from 'vitest'
import { createPgListener, type PgListenerOptions } from '../../lib/index.js'

const make = (options: PgListenerOptions) => () => createPgListener('postgres://app@localhost/app', options)

describe('listener options', () => {
  it.each([
    ['connectTimeout', { connectTimeout: 0 }, 'a positive, finite number of ms', '0'],
    ['connectTimeout', { connectTimeout: Number.NaN }, 'a positive, finite number of ms', 'NaN'],
    ['healthCheck.interval', { healthCheck: { interval: 0 } }, 'a positive, finite number of ms', '0'],
    ['healthCheck.timeout', { healthCheck: { timeout: Infinity } }, 'a positive, finite number of ms', 'Infinity'],
    ['selfProbe.timeout', { selfProbe: { timeout: -1 } }, 'a positive, finite number of ms', '-1'],
    ['reconnect.initialDelay', { reconnect: { initialDelay: -1 } }, 'a finite number of ms, 0 or more', '-1'],
    ['reconnect.maxDelay', { reconnect: { maxDelay: Number.NaN } }, 'a finite number of ms, 0 or more', 'NaN'],
    ['reconnect.factor', { reconnect: { factor: 0.5 } }, 'a finite number, 1 or more', '0.5'],
    ['reconnect.jitter', { reconnect: { jitter: 2 } }, 'a number from 0 to 1', '2'],
    ['notify.maxQueue', { notify: { maxQueue: Number.NaN } }, 'a positive integer', 'NaN'],
    ['notify.maxBatchSize', { notify: { maxBatchSize: 0 } }, 'a positive integer', '0'],
    ['notify.batchWindow', { notify: { batchWindow: -5 } }, 'a finite number of ms, 0 or more', '-5'],
    ['notify.timeout', { notify: { timeout: 0 } }, 'a positive, finite number of ms', '0'],
    ['notify.sendTimeout', { notify: { sendTimeout: Number.NaN } }, 'a positive, finite number of ms', 'NaN'],
    ['notify.closeTimeout', { notify: { closeTimeout: -1 } }, 'a finite number of ms, 0 or more', '-1'],
  ] as const)('refuses %s = %o at once, naming it', (option, options, expected, shown) => {
    expect(make(options)).toThrow(RangeError)
    expect(make(options)).toThrow(`rxpg: ${option} must be ${expected}; got ${shown}`)
  })

  it('takes the defaults, and values at the edges, without connecting', async () => {
    const edges: PgListenerOptions = {
      connectTimeout: 1,
      healthCheck: { interval: 1, timeout: 1 },
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
