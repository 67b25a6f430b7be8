import * as E from 'fp-ts/Either'
import { TestScheduler } from 'rxjs/testing'
import * as v from 'valibot'
import { beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { decode, DecodeError, type MetricsRecorder, type PgNotification } from '../lib/index.js'

const Order = z.object({ id: z.number() })

const note = (payload: string): PgNotification => ({ channel: 'orders', payload, processId: 7, receivedAt: 0 })
const a = note('{"id":1}')
const b = note('{"id":2}')
const bad = note('{"id":"x"}')

/** A `Left` holding a DecodeError with these facts (compared by fields, not by stack). */
const failure = (payload: string, messages: unknown[]) => ({
  _tag: 'Left',
  left: expect.objectContaining({
    name: 'DecodeError',
    code: 'DECODE_FAILED',
    info: { channel: 'orders', payload, messages, direction: 'receive' },
  }),
})

const countingMetrics = () => {
  const counts = { decodeFailures: 0, dropped: 0 }
  const recorder: MetricsRecorder = {
    recordDecodeFailure: (n = 1) => void (counts.decodeFailures += n),
    recordDropped: (n = 1) => void (counts.dropped += n),
  }
  return { counts, recorder }
}

let testScheduler: TestScheduler
beforeEach(() => {
  testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
})

describe('decode', () => {
  it('emits nothing for a source that never emits', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const unsub = '                       ---------!'
      expectObservable(source.pipe(decode(Order)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^--------!')
    })
  })

  it('completes when the source completes without values', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('|')
      expectObservable(source.pipe(decode(Order))).toBe('|')
      expectSubscriptions(source.subscriptions).toBe('(^!)')
    })
  })

  it('turns one valid payload into a Right of the decoded value', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--|', { a })
      const expected = '   --r--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, { r: E.right({ id: 1 }) })
    })
  })

  it('turns an invalid payload into a Left and goes on decoding', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--|', { a, x: bad, b })
      const expected = '  --r--l--s--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, {
        r: E.right({ id: 1 }),
        l: failure('{"id":"x"}', ['id: Invalid input: expected number, received string']),
        s: E.right({ id: 2 }),
      })
    })
  })

  it('turns a payload that is not JSON into a Left', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--x--a--|', { x: note('not json'), a })
      const expected = '   --l--r--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, {
        l: failure('not json', [expect.stringMatching(/^the payload is not JSON/)]),
        r: E.right({ id: 1 }),
      })
    })
  })

  it('decodes the raw payload string with json: false', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: note('42'), b: note('') })
      const expected = '   --r--l--|'
      const digits = z.string().regex(/^\d+$/, 'digits only')
      expectObservable(source.pipe(decode(digits, { json: false }))).toBe(expected, { r: E.right('42'), l: failure('', ['digits only']) })
    })
  })

  it('passes a source error through', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const error = new Error('connection refused for good')
      const source = cold('--a--#', { a }, error)
      const expected = '   --r--#'
      expectObservable(source.pipe(decode(Order))).toBe(expected, { r: E.right({ id: 1 }) }, error)
    })
  })

  it('keeps decoding a source that never ends', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('--a--x--a--x--a-', { a, x: bad })
      const unsub = '     ---------------!'
      const expected = '  --r--l--r--l--r-'
      const values = { r: E.right({ id: 1 }), l: failure('{"id":"x"}', [expect.any(String)]) }
      expectObservable(source.pipe(decode(Order)), unsub).toBe(expected, values)
    })
  })

  it('unsubscribes from the source when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--b--|', { a, b })
      const subs = '      ^------!'
      const unsub = '     -------!'
      const expected = '  --r--s--'
      expectObservable(source.pipe(decode(Order)), unsub).toBe(expected, { r: E.right({ id: 1 }), s: E.right({ id: 2 }) })
      expectSubscriptions(source.subscriptions).toBe(subs)
    })
  })

  it('turns a decoder that throws into a Left that keeps what was thrown as cause', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const boom = new TypeError('boom')
      const throwing = (u: unknown): E.Either<string, unknown> => {
        if ((u as { id: number }).id === 2) throw boom
        return E.right(u)
      }
      const source = cold('--a--b--a--|', { a, b })
      const expected = '   --r--l--r--|'
      expectObservable(source.pipe(decode(throwing))).toBe(expected, {
        r: E.right({ id: 1 }),
        l: { _tag: 'Left', left: expect.objectContaining({ cause: boom, info: expect.objectContaining({ messages: ['the decoder threw: boom'] }) }) },
      })
    })
  })

  it('counts each failure in the metrics it is given', () => {
    const { counts, recorder } = countingMetrics()
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--x--a--x--|', { a, x: bad })
      const expected = '   --l--r--l--|'
      const values = { r: E.right({ id: 1 }), l: failure('{"id":"x"}', [expect.any(String)]) }
      expectObservable(source.pipe(decode(Order, { metrics: recorder }))).toBe(expected, values)
    })
    expect(counts.decodeFailures).toBe(2)
  })
})

describe('decode with each kind of decoder', () => {
  it('reads io-ts Errors as PathReporter-style messages', () => {
    // The shape io-ts's `t.type({ id: t.number })` returns for { id: "x" }.
    const ioTsOrder = {
      decode: (u: unknown): E.Either<unknown[], { id: number }> =>
        typeof (u as { id?: unknown }).id === 'number'
          ? E.right(u as { id: number })
          : E.left([{ value: (u as { id?: unknown }).id, context: [{ key: '', type: { name: '{ id: number }' } }, { key: 'id', type: { name: 'number' } }] }]),
    }
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--x--|', { a, x: bad })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(ioTsOrder))).toBe(expected, {
        r: E.right({ id: 1 }),
        l: failure('{"id":"x"}', ['Invalid value "x" supplied to : { id: number }/id: number']),
      })
    })
  })

  it('takes a plain function returning an Either', () => {
    const positive = (u: unknown): E.Either<string, number> => (typeof u === 'number' && u > 0 ? E.right(u) : E.left('expected a positive number'))
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: note('3'), b: note('-1') })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(positive))).toBe(expected, { r: E.right(3), l: failure('-1', ['expected a positive number']) })
    })
  })

  it('takes a valibot schema', () => {
    const User = v.object({ name: v.string() })
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: note('{"name":"ada"}'), b: note('{"name":1}') })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(User))).toBe(expected, {
        r: E.right({ name: 'ada' }),
        l: failure('{"name":1}', ['name: Invalid type: Expected string but received 1']),
      })
    })
  })

  it("gives a zod schema's transformed output", () => {
    const Stamped = z.object({ at: z.iso.datetime().transform((s) => new Date(s)) })
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--a--|', { a: note('{"at":"2024-01-02T03:04:05Z"}') })
      const expected = '   --r--|'
      expectObservable(source.pipe(decode(Stamped))).toBe(expected, { r: E.right({ at: new Date('2024-01-02T03:04:05Z') }) })
    })
  })

  it('refuses at once something that is not a decoder', () => {
    expect(() => decode({ parse: () => 1 } as never)).toThrow(TypeError)
  })

  it('makes a DecodeError that reads well', () => {
    const error = new DecodeError({ channel: 'orders', payload: '{}', messages: ['id: required', 'total: required'], direction: 'receive' })
    expect(error).toBeInstanceOf(Error)
    expect(error.message).toBe('Notification on channel "orders" did not decode: id: required; total: required')
  })
})
