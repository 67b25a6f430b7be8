import * as E from 'fp-ts/Either'
import { pipe } from 'rxjs'
import * as v from 'valibot'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  decode,
  decodeValid,
  defineChannel,
  filterRight,
  rights,
  type DecodeError,
  type DecodedType,
  type Either,
  type PgNotification,
} from '../../lib/index.js'
import type { OperatorFunction } from 'rxjs'

// io-ts itself is not installed: these have the shape of io-ts's `Type` and its `Errors`.
interface ValidationError {
  readonly value: unknown
  readonly context: ReadonlyArray<{ readonly key: string; readonly type: { readonly name: string } }>
  readonly message?: string
}
interface IoTsType<A, O = A, I = unknown> {
  readonly name: string
  is(u: unknown): u is A
  decode(i: I): E.Either<ValidationError[], A>
  encode(a: A): O
}
declare const Order: IoTsType<{ id: number; total: number }>
declare const NumberFromString: IoTsType<number, string, string>

describe('decode infers the value type', () => {
  it('from an io-ts style codec', () => {
    expectTypeOf(decode(Order)).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, { id: number; total: number }>>>()
  })

  it('from an io-ts codec whose input is narrower than unknown', () => {
    expectTypeOf(decode(NumberFromString, { json: false })).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, number>>>()
  })

  it('from a function returning an fp-ts Either', () => {
    const positive = (u: unknown): E.Either<string, number> => (typeof u === 'number' && u > 0 ? E.right(u) : E.left('not positive'))
    expectTypeOf(decode(positive)).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, number>>>()
  })

  it('from a zod schema, taking its output type', () => {
    const Event = z.object({ at: z.string().transform((s) => new Date(s)), kind: z.enum(['a', 'b']) })
    expectTypeOf(decode(Event)).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, { at: Date; kind: 'a' | 'b' }>>>()
  })

  it('from a valibot schema', () => {
    const User = v.object({ name: v.string(), age: v.optional(v.number()) })
    expectTypeOf<DecodedType<typeof User>>().toEqualTypeOf<{ name: string; age?: number | undefined }>()
    expectTypeOf(decodeValid(User)).toEqualTypeOf<OperatorFunction<PgNotification, { name: string; age?: number | undefined }>>()
  })

  it('refuses what is not a decoder', () => {
    // @ts-expect-error a plain predicate is not a decoder
    decode((u: unknown) => typeof u === 'string')
    // @ts-expect-error a schema-like object without ~standard.validate is not a decoder
    decode({ parse: (u: unknown) => u })
  })
})

describe("rxpg's Either is fp-ts's Either", () => {
  it('is the same type, both ways', () => {
    expectTypeOf<Either<string, number>>().toEqualTypeOf<E.Either<string, number>>()
  })

  it('narrows with fp-ts guards', () => {
    const result = {} as Either<DecodeError, { id: number }>
    if (E.isRight(result)) expectTypeOf(result.right).toEqualTypeOf<{ id: number }>()
    else expectTypeOf(result.left).toEqualTypeOf<DecodeError>()
  })
})

describe('filters on decoded values refine the type', () => {
  type Shape = { kind: 'circle'; r: number } | { kind: 'square'; side: number }
  const isCircle = (s: Shape): s is Extract<Shape, { kind: 'circle' }> => s.kind === 'circle'

  it('rights() unwraps the valid values', () => {
    expectTypeOf(pipe(decode(z.object({ n: z.number() })), rights())).toEqualTypeOf<OperatorFunction<PgNotification, { n: number }>>()
  })

  it('filterRight(refinement) narrows the Right side and keeps the Left side', () => {
    expectTypeOf(filterRight(isCircle)).toEqualTypeOf<OperatorFunction<Either<unknown, Shape>, Either<unknown, { kind: 'circle'; r: number }>>>()
    const decoded = {} as OperatorFunction<PgNotification, Either<DecodeError, Shape>>
    expectTypeOf(pipe(decoded, filterRight(isCircle))).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, { kind: 'circle'; r: number }>>>()
  })

  it('filterRight(predicate) keeps the type when the predicate is no type guard', () => {
    const decoded = {} as OperatorFunction<PgNotification, Either<DecodeError, Shape>>
    expectTypeOf(pipe(decoded, filterRight((s: Shape) => s.kind === 'circle' && s.r > 1))).toEqualTypeOf<OperatorFunction<PgNotification, Either<DecodeError, Shape>>>()
  })
})

describe('typed channels carry the type both ways', () => {
  const Orders = defineChannel('orders', z.object({ id: z.number() }))

  it('sends only values of the type', () => {
    expectTypeOf(Orders.send).parameter(1).toEqualTypeOf<{ id: number }>()
  })

  it('listens to decoded values', () => {
    expectTypeOf(Orders.listenValid).returns.toEqualTypeOf<import('rxjs').Observable<{ id: number }>>()
    expectTypeOf(Orders.listen).returns.toEqualTypeOf<import('rxjs').Observable<Either<DecodeError, { id: number }>>>()
  })

  it('uses an io-ts codec for both directions', () => {
    const Counts = defineChannel('counts', NumberFromString, { json: false })
    expectTypeOf(Counts.send).parameter(1).toEqualTypeOf<number>()
  })
})
