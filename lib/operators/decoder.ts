/**
 * The decoders rxpg accepts, and the one function that runs any of them.
 *
 * rxpg's `Either` is fp-ts's `Either`, written out structurally (`{ _tag: 'Left', left } | { _tag: 'Right',
 * right }`): every fp-ts function (`isRight`, `match`, `map`, `pipe`) takes it, and io-ts decoders return it,
 * while rxpg itself depends on fp-ts neither at run time nor in its published types (so a user without fp-ts
 * can still install and type-check rxpg). Likewise the Standard Schema interface is copied here, as the
 * Standard Schema spec recommends, rather than imported from `@standard-schema/spec`.
 */

/** fp-ts's `Left`: the failure side of an `Either`. */
export interface Left<E> {
  readonly _tag: 'Left'
  readonly left: E
}

/** fp-ts's `Right`: the success side of an `Either`. */
export interface Right<A> {
  readonly _tag: 'Right'
  readonly right: A
}

/** fp-ts's `Either`, structurally identical, so values pass freely between rxpg, fp-ts and io-ts. */
export type Either<E, A> = Left<E> | Right<A>

/**
 * Standard Schema v1 (https://standardschema.dev), as implemented by zod, valibot, ArkType and others. A
 * structural copy of `@standard-schema/spec` (flattened, without its namespace), so rxpg needs no dependency.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>
}

interface StandardSchemaProps<Input, Output> {
  readonly version: 1
  readonly vendor: string
  readonly validate: (
    value: unknown,
    options?: { readonly libraryOptions?: Record<string, unknown> | undefined },
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>
  readonly types?: { readonly input: Input; readonly output: Output } | undefined
}

type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaIssue> }

interface StandardSchemaIssue {
  readonly message: string
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined
}

/**
 * An io-ts style decoder: any object with `decode(input): Either<E, T>` (io-ts `Type`s and codecs, fp-ts
 * `Decoder`s). When `E` is io-ts's `Errors` array it is turned into PathReporter-style messages.
 */
export interface EitherDecoder<T, E = unknown> {
  // Method syntax on purpose: it keeps the parameter bivariant, so io-ts codecs from a narrower input
  // (`NumberFromString` decodes a `string`) are accepted too.
  decode(input: unknown): Either<E, T>
}

/** A plain decoding function returning an `Either`. */
export type DecodeFunction<T, E = unknown> = (input: unknown) => Either<E, T>

/**
 * What `decode`, `decodeValid` and `defineChannel` accept: a Standard Schema (zod, valibot, ...), an io-ts
 * style `{ decode }` object, or a function returning an `Either`. The decoded type is inferred from it.
 */
export type Decoder<T> = StandardSchemaV1<unknown, T> | EitherDecoder<T> | DecodeFunction<T>

/**
 * The type a decoder produces. Standard Schema is tested first because some schemas (zod 4) also have a
 * `decode` method that throws rather than returning an `Either`.
 */
export type DecodedType<D> =
  D extends StandardSchemaV1<infer _Input, infer Output>
    ? Output
    : D extends { decode(input: never): Either<unknown, infer A> }
      ? A
      : D extends (input: never) => Either<unknown, infer A>
        ? A
        : never

/** @internal What one decoding attempt gave: the value, or the decoder's messages (and what was thrown). */
export type Attempt<T> = Right<T> | Left<{ readonly messages: string[]; readonly cause?: unknown }>

/** @internal */
export type Run<T> = (input: unknown) => Attempt<T> | Promise<Attempt<T>>

/**
 * @internal Turns any accepted decoder into one function, deciding the decoder's kind once (not per value).
 * The function never throws: a decoder that throws gives a `Left` with the thrown value as `cause`.
 */
export function runnerFor<T>(decoder: Decoder<T>): Run<T> {
  if (isStandardSchema(decoder)) {
    const validate = decoder['~standard'].validate
    return (input) => {
      let result: StandardSchemaResult<T> | Promise<StandardSchemaResult<T>>
      try {
        result = validate(input)
      } catch (error) {
        return thrown(error)
      }
      return isPromiseLike(result) ? Promise.resolve(result).then(fromStandardResult<T>, thrown) : fromStandardResult(result)
    }
  }
  if (typeof decoder === 'function') return eitherRunner(decoder)
  if (typeof decoder === 'object' && decoder !== null && typeof decoder.decode === 'function') {
    return eitherRunner((input) => decoder.decode(input))
  }
  throw new TypeError('rxpg: a decoder is a Standard Schema, an object with decode(input) returning an Either, or a function returning an Either')
}

function eitherRunner<T>(decode: (input: unknown) => Either<unknown, T>): Run<T> {
  return (input) => {
    let result: Either<unknown, T>
    try {
      result = decode(input)
    } catch (error) {
      return thrown(error)
    }
    // What a decoder written in plain JavaScript may return: anything.
    const shape = result as Partial<Record<'_tag' | 'left' | 'right', unknown>> | null | undefined
    if (typeof shape === 'object' && shape !== null) {
      if (shape._tag === 'Right' && 'right' in shape) return result as Attempt<T>
      if (shape._tag === 'Left' && 'left' in shape) return { _tag: 'Left', left: { messages: messagesOf(shape.left) } }
    }
    // A Promise (an async function): its rejection, if any, is this Left's business, not an unhandled rejection.
    if (isPromiseLike(result)) result.then(null, () => null)
    return notA('an Either')
  }
}

function fromStandardResult<T>(result: StandardSchemaResult<T>): Attempt<T> {
  // What a hand-written adapter may return: anything (undefined when it forgot to return its issues, `{ data }`
  // for `{ value }`). Read as it was, undefined threw out of the stream's delivery (a process crash), and
  // `{ data }` was a Right of undefined.
  const shape = result as { readonly issues?: unknown; readonly value?: unknown } | undefined
  if (Array.isArray(shape?.issues)) return { _tag: 'Left', left: { messages: shape.issues.map(issueMessage) } }
  return typeof shape === 'object' && shape !== null && shape.issues == null && 'value' in shape ? { _tag: 'Right', right: shape.value as T } : notA('a Standard Schema result')
}

/** The decoder's answer was not what it should be: a Left saying so (rxpg's code never throws for it). */
function notA(what: string): Left<{ readonly messages: string[] }> {
  return { _tag: 'Left', left: { messages: [`the decoder returned something that is not ${what}`] } }
}

function thrown(error: unknown): Left<{ messages: string[]; cause: unknown }> {
  return { _tag: 'Left', left: { messages: [`the decoder threw: ${error instanceof Error ? error.message : String(error)}`], cause: error } }
}

function issueMessage(issue: StandardSchemaIssue): string {
  if (!issue.path?.length) return issue.message
  const path = issue.path.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.')
  return `${path}: ${issue.message}`
}

/** Readable messages from whatever a decoder put in its `Left`. */
function messagesOf(failure: unknown): string[] {
  if (typeof failure === 'string') return [failure]
  if (Array.isArray(failure)) {
    if (failure.length === 0) return ['invalid value']
    return failure.map((item: unknown) => (isIoTsValidationError(item) ? ioTsMessage(item) : messageOf(item)))
  }
  return [messageOf(failure)]
}

function messageOf(item: unknown): string {
  if (typeof item === 'string') return item
  if (typeof item === 'object' && item !== null && typeof (item as { message?: unknown }).message === 'string') {
    return (item as { message: string }).message
  }
  return safeStringify(item)
}

interface IoTsValidationError {
  readonly value: unknown
  readonly context: ReadonlyArray<{ readonly key: string; readonly type: { readonly name: string } }>
  readonly message?: string | undefined
}

function isIoTsValidationError(item: unknown): item is IoTsValidationError {
  return typeof item === 'object' && item !== null && 'value' in item && Array.isArray((item as { context?: unknown }).context)
}

/** The message io-ts's PathReporter would print: `Invalid value 1 supplied to : Order/id: string`. */
function ioTsMessage(error: IoTsValidationError): string {
  if (error.message !== undefined) return error.message
  const path = error.context.map(({ key, type }) => `${key}: ${type.name}`).join('/')
  return `Invalid value ${safeStringify(error.value)} supplied to ${path}`
}

function safeStringify(value: unknown): string {
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`
  if (value === undefined) return 'undefined'
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

function isStandardSchema<T>(decoder: Decoder<T>): decoder is StandardSchemaV1<unknown, T> {
  return (
    (typeof decoder === 'object' || typeof decoder === 'function') &&
    decoder !== null &&
    '~standard' in decoder &&
    typeof (decoder as StandardSchemaV1)['~standard']?.validate === 'function'
  )
}

/** @internal */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
