// Bad options of rxpg/sse and rxpg/browser are refused when the endpoint or the stream is made, with an error
// that names the option, instead of a heartbeat of 0 ms writing comments in a loop on every stream, or a
// silence time-out of 0 ms aborting every connection at once.
import { of } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { fromServerSentEvents } from '../../lib/browser/index.js'
import type { DurableLog } from '../../lib/durable/index.js'
import { createSseEndpoint, durableSource, liveSource, resumableSource } from '../../lib/sse/index.js'

const channels = { orders: of(1) }

describe('rxpg/sse options', () => {
  it('refuses durations, sizes and the retry field that are not usable numbers, naming the option', () => {
    const bad: Array<[string, Record<string, unknown>]> = [
      ['heartbeat', { heartbeat: 0 }],
      ['heartbeat', { heartbeat: -1 }],
      ['heartbeat', { heartbeat: Number.NaN }],
      ['heartbeat', { heartbeat: Infinity }],
      ['heartbeat', { heartbeat: true }],
      ['retry', { retry: -1 }],
      ['retry', { retry: 1.5 }],
      ['retry', { retry: Number.NaN }],
      ['maxLifetime', { maxLifetime: 0 }],
      ['maxLifetime', { maxLifetime: Infinity }],
      // 30 days: more than a timer can wait (Node would end every stream after 1 ms).
      ['maxLifetime', { maxLifetime: 30 * 24 * 60 * 60 * 1000 }],
      ['heartbeat', { heartbeat: 2 ** 31 }],
      ['retry', { retry: 2 ** 31 }],
      ['maxBufferedBytes', { maxBufferedBytes: 0 }],
      ['maxBufferedBytes', { maxBufferedBytes: 1.5 }],
      ['maxBufferedBytes', { maxBufferedBytes: Infinity }],
      ['drainTimeout', { drainTimeout: 0 }],
      ['drainTimeout', { drainTimeout: Number.NaN }],
      ['shutdownSpread', { shutdownSpread: -1 }],
      ['shutdownSpread', { shutdownSpread: Infinity }],
    ]
    for (const [name, options] of bad) {
      expect(() => createSseEndpoint({ channels, ...options }), name).toThrow(RangeError)
      expect(() => createSseEndpoint({ channels, ...options }), name).toThrow(new RegExp(`\\b${name}\\b`))
    }
  })

  it('accepts the limits that make sense', () => {
    expect(() => createSseEndpoint({ channels, heartbeat: false, retry: 0, maxLifetime: false, shutdownSpread: 0 })).not.toThrow()
    expect(() => createSseEndpoint({ channels, heartbeat: 1, retry: 1000, maxLifetime: 60_000, maxBufferedBytes: 1, drainTimeout: 1 })).not.toThrow()
    expect(() => createSseEndpoint({ channels, heartbeat: 2 ** 31 - 1, maxLifetime: 2 ** 31 - 1, drainTimeout: 2 ** 31 - 1 })).not.toThrow()
  })

  it('refuses an endpoint without channels, and a channel that is neither an Observable nor a source', () => {
    expect(() => createSseEndpoint({ channels: {} })).toThrow(RangeError)
    expect(() => createSseEndpoint({ channels: { orders: Promise.resolve(1) } as never })).toThrow(TypeError)
    expect(() => createSseEndpoint({ channels: { orders: Promise.resolve(1) } as never })).toThrow(/"orders"/)
  })

  it('refuses channel names a stream cannot carry', () => {
    for (const name of ['', 'rxpg-ready', 'a\nb', 'a\rb', 'a\0b']) expect(() => createSseEndpoint({ channels: { [name]: of(1) } }), JSON.stringify(name)).toThrow(RangeError)
  })
})

describe('durableSource options', () => {
  // Only checked, never read: the options are refused before the log is touched.
  const log = {} as DurableLog

  it('refuses page sizes, holds and starting points that could not work, naming the option', () => {
    const bad: Array<[string, Record<string, unknown>]> = [
      ['pageSize', { pageSize: 0 }],
      ['pageSize', { pageSize: 2.5 }],
      ['pageSize', { pageSize: Infinity }],
      ['maxHeldWhileCatchingUp', { maxHeldWhileCatchingUp: 0 }],
      ['maxHeldWhileCatchingUp', { maxHeldWhileCatchingUp: Number.NaN }],
      ['from', { from: 'latest' }],
    ]
    for (const [name, options] of bad) {
      expect(() => durableSource(log, 'orders', options), name).toThrow(RangeError)
      expect(() => durableSource(log, 'orders', options), name).toThrow(new RegExp(`\\b${name}\\b`))
    }
    expect(() => durableSource(log, 'orders', { pageSize: 1, maxHeldWhileCatchingUp: 1, from: 'earliest' })).not.toThrow()
  })
})

describe('rxpg/browser options', () => {
  const decoders = { orders: z.number() }

  it('refuses a silence time-out that is not a positive, finite number, naming the option', () => {
    for (const silenceTimeout of [0, -1, Number.NaN, Infinity, 2 ** 31]) {
      expect(() => fromServerSentEvents('http://localhost/events', { channels: decoders, silenceTimeout }), String(silenceTimeout)).toThrow(/silenceTimeout/)
      expect(() => fromServerSentEvents('http://localhost/events', { channels: decoders, silenceTimeout }), String(silenceTimeout)).toThrow(RangeError)
    }
    expect(() => fromServerSentEvents('http://localhost/events', { channels: decoders, silenceTimeout: false })).not.toThrow()
  })

  it('refuses a stream without channels', () => {
    expect(() => fromServerSentEvents('http://localhost/events', { channels: {} })).toThrow(RangeError)
  })
})

/**
 * A misspelt option ran with its default without a word: an endpoint's `hearbeat`, a durable source's `form`
 * (started from 'now' and skipped the backlog), a live source's `listner` (no gap events). Each is a TypeError
 * naming the option and those taken there. (rxpg/browser does not check names: its bundle has no bytes to
 * spare for the list, and TypeScript's excess property check catches a misspelt literal.)
 */
describe('option names of rxpg/sse', () => {
  it('refuses an endpoint option it does not take', () => {
    const make = () => createSseEndpoint({ channels, hearbeat: 1000 } as never)
    expect(make).toThrow(TypeError)
    expect(make).toThrow(
      'rxpg/sse: createSseEndpoint has no option "hearbeat"; its options are { channels, authorize, canSee, heartbeat, retry, maxLifetime, maxBufferedBytes, drainTimeout, shutdownSpread, scheduler, random, onError }',
    )
    expect(() => createSseEndpoint('orders' as never)).toThrow("rxpg/sse: createSseEndpoint's options must be an object { channels, authorize, canSee, heartbeat, retry, maxLifetime, maxBufferedBytes, drainTimeout, shutdownSpread, scheduler, random, onError }; got a string")
  })

  it('refuses source options they do not take', () => {
    const log = {} as DurableLog
    expect(() => durableSource(log, 'orders', { form: 'earliest' } as never)).toThrow(TypeError)
    expect(() => durableSource(log, 'orders', { form: 'earliest' } as never)).toThrow('rxpg/sse: durableSource has no option "form"; its options are { from, pageSize, maxHeldWhileCatchingUp }')
    expect(() => durableSource(log, 'orders', 'earliest' as never)).toThrow("rxpg/sse: durableSource's options must be an object { from, pageSize, maxHeldWhileCatchingUp }; got a string")
    expect(() => liveSource(of(1), { listner: {} } as never)).toThrow('rxpg/sse: liveSource has no option "listner"; its options are { data, listener }')
    expect(() => resumableSource({ open: () => of(1), token: String, isRest: () => undefined } as never)).toThrow(
      'rxpg/sse: resumableSource has no option "isRest"; its options are { open, token, data, isReset, start }',
    )
  })
})
