import * as E from 'fp-ts/Either'
import { pipe } from 'fp-ts/function'
import * as t from 'io-ts'
import * as D from 'io-ts/Decoder'
import { tap } from 'rxjs'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { decode, DecodeError, type PgNotification } from '../lib/index.js'
import { createVirtualListener, notification, runMarbles } from '../lib/testing/index.js'

const Order = z.object({ id: z.number() })
/** What zod says of `bad`. */
const notANumber = 'id: Invalid input: expected number, received string'

const a = notification('orders', '{"id":1}')
const b = notification('orders', '{"id":2}')
const bad = notification('orders', '{"id":"x"}')

/** The `Left` decode makes of `payload` on 'orders' (runMarbles compares its DecodeError by name, code and info). */
const failure = (payload: string, messages: string[]) => E.left(new DecodeError({ channel: 'orders', payload, messages, direction: 'receive' }))

/** What decode says of a payload that JSON.parse refuses: it quotes the parser, whose wording is the runtime's. */
const notJson = (payload: string): string => {
  try {
    JSON.parse(payload)
  } catch (error) {
    return `the payload is not JSON (${(error as Error).message})`
  }
  throw new Error(`${payload} is JSON`)
}

describe('decode', () => {
  it('emits nothing for a source that never emits', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('-')
      const unsub = '                       ---------!'
      expectObservable(source.pipe(decode(Order)), unsub).toBe('-')
      expectSubscriptions(source.subscriptions).toBe('^--------!')
    }))

  it('completes when the source completes without values', () =>
    runMarbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<PgNotification>('|')
      expectObservable(source.pipe(decode(Order))).toBe('|')
      expectSubscriptions(source.subscriptions).toBe('(^!)')
    }))

  it('turns one valid payload into a Right of the decoded value', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--|', { a })
      const expected = '   --r--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, { r: E.right({ id: 1 }) })
    }))

  it('turns an invalid payload into a Left and goes on decoding', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--b--|', { a, x: bad, b })
      const expected = '  --r--l--s--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, {
        r: E.right({ id: 1 }),
        l: failure('{"id":"x"}', [notANumber]),
        s: E.right({ id: 2 }),
      })
    }))

  it('turns a payload that is not JSON into a Left', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--x--a--|', { x: notification('orders', 'not json'), a })
      const expected = '   --l--r--|'
      expectObservable(source.pipe(decode(Order))).toBe(expected, {
        l: failure('not json', [notJson('not json')]),
        r: E.right({ id: 1 }),
      })
    }))

  it('decodes the raw payload string with json: false', () =>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: notification('orders', '42'), b: notification('orders', '') })
      const expected = '   --r--l--|'
      const digits = z.string().regex(/^\d+$/, 'digits only')
      expectObservable(source.pipe(decode(digits, { json: false }))).toBe(expected, { r: E.right('42'), l: failure('', ['digits only']) })
    }))

  it('passes a source error through', () =>
    runMarbles(({ cold, expectObservable }) => {
      const error = new Error('connection refused for good')
      const source = cold('--a--#', { a }, error)
      const expected = '   --r--#'
      expectObservable(source.pipe(decode(Order))).toBe(expected, { r: E.right({ id: 1 }) }, error)
    }))

  it('keeps decoding a source that never ends', () =>
    runMarbles(({ hot, expectObservable }) => {
      const source = hot('--a--x--a--x--a-', { a, x: bad })
      const unsub = '     ---------------!'
      const expected = '  --r--l--r--l--r-'
      const values = { r: E.right({ id: 1 }), l: failure('{"id":"x"}', [notANumber]) }
      expectObservable(source.pipe(decode(Order)), unsub).toBe(expected, values)
    }))

  it('unsubscribes from the source when unsubscribed early', () =>
    runMarbles(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('--a--b--a--b--|', { a, b })
      const subs = '      ^------!'
      const unsub = '     -------!'
      const expected = '  --r--s--'
      expectObservable(source.pipe(decode(Order)), unsub).toBe(expected, { r: E.right({ id: 1 }), s: E.right({ id: 2 }) })
      expectSubscriptions(source.subscriptions).toBe(subs)
    }))

  it('turns a decoder that throws into a Left that keeps what was thrown as cause', () => {
    const boom = new TypeError('boom')
    const throwing = (u: unknown): E.Either<string, unknown> => {
      if ((u as { id: number }).id === 2) throw boom
      return E.right(u)
    }
    // Frames compare errors without their cause: the causes are checked, by identity, after the run.
    const causes: unknown[] = []
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--b--a--|', { a, b })
      const expected = '   --r--l--r--|'
      const results = source.pipe(
        decode(throwing),
        tap((result) => {
          if (E.isLeft(result)) causes.push(result.left.cause)
        }),
      )
      expectObservable(results).toBe(expected, {
        r: E.right({ id: 1 }),
        l: failure('{"id":2}', ['the decoder threw: boom']),
      })
    })
    expect(causes).toHaveLength(1)
    expect(causes[0]).toBe(boom)
  })

  it('counts each failure in the metrics it is given', () => {
    const db = createVirtualListener()
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--x--a--x--|', { a, x: bad })
      const expected = '   --l--r--l--|'
      const values = { r: E.right({ id: 1 }), l: failure('{"id":"x"}', [notANumber]) }
      expectObservable(source.pipe(decode(Order, { metrics: db.metrics }))).toBe(expected, values)
    })
    expect(db.metrics.snapshot().decodeFailures).toBe(2)
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
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--x--|', { a, x: bad })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(ioTsOrder))).toBe(expected, {
        r: E.right({ id: 1 }),
        l: failure('{"id":"x"}', ['Invalid value "x" supplied to : { id: number }/id: number']),
      })
    })
  })

  it("reads io-ts Types as PathReporter does, and io-ts's Decoder module through its own draw (the docs' recipe)", () => {
    const OrderD = D.struct({ id: D.number, status: D.string })
    const drawn = (u: unknown) => pipe(OrderD.decode(u), E.mapLeft(D.draw))
    const OrderT = t.type({ id: t.number })
    const worse = notification('orders', '{"id":"x","status":1}')
    runMarbles(({ cold, expectObservable }) => {
      expectObservable(cold('-x-|', { x: worse }).pipe(decode(drawn))).toBe('-l-|', {
        l: failure('{"id":"x","status":1}', ['required property "id"\n└─ cannot decode "x", should be number\nrequired property "status"\n└─ cannot decode 1, should be string']),
      })
      expectObservable(cold('-x-|', { x: bad }).pipe(decode(OrderT))).toBe('-l-|', {
        l: failure('{"id":"x"}', ['Invalid value "x" supplied to : { id: number }/id: number']),
      })
    })
  })

  it('takes a plain function returning an Either', () => {
    const positive = (u: unknown): E.Either<string, number> => (typeof u === 'number' && u > 0 ? E.right(u) : E.left('expected a positive number'))
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: notification('orders', '3'), b: notification('orders', '-1') })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(positive))).toBe(expected, { r: E.right(3), l: failure('-1', ['expected a positive number']) })
    })
  })

  it('says that a function returned something that is not an Either (null, undefined, a Right without right), not that it threw', () => {
    const returning = (result: unknown) => () => result as E.Either<string, number>
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('a|', { a: notification('orders', '1') })
      const notEither = failure('1', ['the decoder returned something that is not an Either'])
      for (const result of [null, undefined, 'yes', { _tag: 'Right' }]) expectObservable(source.pipe(decode(returning(result)))).toBe('l|', { l: notEither })
    })
  })

  it('takes a valibot schema', () => {
    const User = v.object({ name: v.string() })
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--b--|', { a: notification('orders', '{"name":"ada"}'), b: notification('orders', '{"name":1}') })
      const expected = '   --r--l--|'
      expectObservable(source.pipe(decode(User))).toBe(expected, {
        r: E.right({ name: 'ada' }),
        l: failure('{"name":1}', ['name: Invalid type: Expected string but received 1']),
      })
    })
  })

  it("gives a zod schema's transformed output", () => {
    const Stamped = z.object({ at: z.iso.datetime().transform((s) => new Date(s)) })
    runMarbles(({ cold, expectObservable }) => {
      const source = cold('--a--|', { a: notification('orders', '{"at":"2024-01-02T03:04:05Z"}') })
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
    expect(error.message).toBe('A payload on channel "orders" did not decode: id: required; total: required')
  })
})
