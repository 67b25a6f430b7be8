import type { Observable, Observer } from 'rxjs'
import { assertChannelName } from './identifiers.js'
import type { MetricsRecorder } from './metrics.js'
import { DecodeError, decode } from './operators/decode.js'
import { decodeValid } from './operators/decode-valid.js'
import { isPromiseLike, runnerFor, type Attempt, type DecodedType, type Decoder, type Either } from './operators/decoder.js'
import type { OptionalFields, PgListener } from './types.js'

export interface TypedChannelOptions<T> {
  /**
   * `true` (default): values travel as JSON (`JSON.stringify` out, `JSON.parse` in). `false`: the payload is
   * the encoded value itself, which must then be a string, and the decoder gets the raw payload.
   */
  readonly json?: boolean | undefined
  /**
   * Turns a value into what is sent (before `JSON.stringify` when `json` is on). Default: the codec's own
   * `encode` when it is an io-ts style codec (not a Standard Schema), else the value as it is.
   */
  readonly encode?: ((value: T) => unknown) | undefined
}

/** A listener as a typed channel's `listen` uses it: `channel`, and `metrics` when present (to count failures). */
export type ListeningSide = Pick<PgListener, 'channel'> & OptionalFields<Pick<PgListener, 'metrics'>>

/**
 * One channel and the type of its payloads, declared once and shared by the code that sends and the code that
 * listens, so the two cannot drift apart. Made by `defineChannel`.
 */
export interface TypedChannel<T> {
  /** The exact channel name. */
  readonly name: string
  /**
   * The channel's values as `Either<DecodeError, T>` (bad payloads included, as `Left`s). Decode failures are
   * counted in the listener's `metrics` unless `options.metrics` says otherwise.
   */
  listen(listener: ListeningSide, options?: { readonly metrics?: MetricsRecorder | undefined }): Observable<Either<DecodeError, T>>
  /** The channel's valid values; bad payloads go to `onInvalid` (and are counted, as with `listen`). */
  listenValid(
    listener: ListeningSide,
    options?: { readonly onInvalid?: ((error: DecodeError) => void) | undefined; readonly metrics?: MetricsRecorder | undefined },
  ): Observable<T>
  /**
   * Encodes `value`, checks that the payload decodes back with the channel's decoder, then sends it.
   * Resolves once the notification is committed. Rejects with `DecodeError` (`direction: 'send'`) when the
   * value does not pass, and with the listener's errors (`PayloadTooLargeError`, ...) when it cannot be sent;
   * in both cases nothing was sent. Sends keep call order, also when validation is asynchronous.
   */
  send(listener: Pick<PgListener, 'notify'>, value: T): Promise<void>
  /**
   * A fire-and-forget sink, like `notify$`: `sink(db).next(value)` checks the value as `send` does and hands
   * the payload to `listener.notify$` (whose own failures go to `listener.errors$`). A value that does not
   * pass goes to `onError` (default: a process warning) and is not sent. `error()` and `complete()` are
   * ignored, so `source$.subscribe(channel.sink(db))` never closes anything shared.
   */
  sink(listener: Pick<PgListener, 'notify$'>, options?: { readonly onError?: ((error: DecodeError) => void) | undefined }): Observer<T>
  /** The payload `send` would send, or the `DecodeError` it would reject with; nothing is sent. */
  payloadOf(value: T): Promise<string>
}

/**
 * Declares a channel and its payload type once: `listen` gives typed values, `send` and `sink` encode and
 * validate before anything is sent.
 *
 * Why a definition, and not a method on the listener: it is a plain value made at module load, with no
 * connection, so it can live in a module that both the sending and the listening service import (or a
 * shared package), and it works with any listener, the virtual one of `rxpg/testing` included. The listener
 * is the first argument of each use, as in `sendStop(db, ...)`.
 *
 * Validation on the way out runs the channel's own decoder on the payload exactly as a receiver will see it
 * (encoded, then parsed back), so a value that would fail on the other side (a `Date` that a `z.date()`
 * cannot read back from JSON, a missing field hidden behind a cast) is refused here, with a typed error, and
 * never sent.
 *
 * ```ts
 * // orders.channel.ts, imported by sender and listener alike
 * export const OrderPlaced = defineChannel('order-placed', z.object({ id: z.number(), total: z.number() }))
 *
 * OrderPlaced.listenValid(db).subscribe((order) => console.log(order.total))
 * await OrderPlaced.send(db, { id: 1, total: 9.5 })
 * OrderPlaced.send(db, { id: 1 } as never) // rejects with DecodeError: total: expected number; nothing sent
 * ```
 *
 * @param name The exact channel name; validated now (`InvalidChannelNameError`).
 * @param codec A Standard Schema (zod, valibot, ...), an io-ts codec (`decode` + `encode`), or a function
 *   returning an `Either`.
 * @param options `json: false` for raw-string payloads; `encode` to choose the outgoing form.
 */
export function defineChannel<D extends Decoder<unknown>>(
  name: string,
  codec: D,
  options?: TypedChannelOptions<DecodedType<D>>,
): TypedChannel<DecodedType<D>>
export function defineChannel<T>(name: string, codec: Decoder<T>, options: TypedChannelOptions<T> = {}): TypedChannel<T> {
  assertChannelName(name)
  const json = options.json ?? true
  const run = runnerFor(codec)
  const encode = options.encode ?? ownEncode<T>(codec)
  // The last send still waiting for its turn; later sends wait behind it so that call order is kept when a
  // validation is asynchronous. Undefined whenever nothing waits, which keeps synchronous sends direct.
  let tail: Promise<void> | undefined

  const refuse = (payload: string, messages: string[], cause?: unknown): Either<DecodeError, string> => ({
    _tag: 'Left',
    left: new DecodeError(
      { channel: name, payload, messages, direction: 'send' },
      cause === undefined ? undefined : { cause },
      `Nothing was sent on channel ${JSON.stringify(name)}: the value does not pass the channel's decoder once encoded: ${messages.join('; ')}`,
    ),
  })
  const judge = (payload: string, attempt: Attempt<T>): Either<DecodeError, string> =>
    attempt._tag === 'Right' ? { _tag: 'Right', right: payload } : refuse(payload, attempt.left.messages, attempt.left.cause)

  /** The payload for `value`, checked by the decoder; synchronous when the decoder is. Never throws. */
  const check = (value: T): Either<DecodeError, string> | Promise<Either<DecodeError, string>> => {
    let payload: unknown
    try {
      const encoded = encode ? encode(value) : value
      payload = json ? JSON.stringify(encoded) : encoded
    } catch (error) {
      return refuse('', [`encoding failed: ${error instanceof Error ? error.message : String(error)}`], error)
    }
    if (typeof payload !== 'string') {
      return refuse('', [
        json ? 'the value has no JSON form (JSON.stringify gave undefined)' : `with json: false the encoded value must be a string, got ${typeof payload}`,
      ])
    }
    const text = payload
    const attempt = run(json ? JSON.parse(text) : text)
    return isPromiseLike(attempt) ? attempt.then((settled) => judge(text, settled)) : judge(text, attempt)
  }

  /** Runs `act` with the checked payload once every earlier send has had its turn. */
  const inTurn = <R>(checked: Either<DecodeError, string> | Promise<Either<DecodeError, string>>, act: (payload: string) => R): Promise<R> => {
    const turn = Promise.resolve(tail)
      .then(() => checked)
      .catch((error: unknown) => refuse('', [`validation failed: ${String(error)}`], error))
      .then((result) => (result._tag === 'Right' ? { acted: act(result.right) } : { refused: result.left }))
    const mine: Promise<void> = turn.then(
      () => undefined,
      () => undefined,
    )
    tail = mine
    void mine.then(() => {
      if (tail === mine) tail = undefined
    })
    return turn.then((outcome) => ('refused' in outcome ? Promise.reject(outcome.refused) : outcome.acted))
  }

  return {
    name,
    listen: (listener, listenOptions = {}) =>
      listener.channel(name).pipe(decode(codec, { json, metrics: listenOptions.metrics ?? listener.metrics })) as Observable<Either<DecodeError, T>>,
    listenValid: (listener, listenOptions = {}) =>
      listener
        .channel(name)
        .pipe(decodeValid(codec, { json, metrics: listenOptions.metrics ?? listener.metrics, onInvalid: listenOptions.onInvalid })) as Observable<T>,
    send: (listener, value) => {
      const checked = check(value)
      if (tail === undefined && !isPromiseLike(checked)) {
        return checked._tag === 'Right' ? listener.notify(name, checked.right) : Promise.reject(checked.left)
      }
      return inTurn(checked, (payload) => listener.notify(name, payload)).then(() => undefined)
    },
    sink: (listener, sinkOptions = {}) => {
      const onError = sinkOptions.onError ?? ((error: DecodeError) => process.emitWarning(error))
      const sendPayload = (payload: string) => listener.notify$.next({ channel: name, payload })
      return {
        next: (value) => {
          const checked = check(value)
          if (tail === undefined && !isPromiseLike(checked)) {
            if (checked._tag === 'Right') sendPayload(checked.right)
            else onError(checked.left)
            return
          }
          inTurn(checked, sendPayload).catch((error: unknown) => onError(error as DecodeError))
        },
        // A producer finishing or failing must not close anything shared.
        error: () => undefined,
        complete: () => undefined,
      }
    },
    payloadOf: (value) => {
      const checked = check(value)
      return Promise.resolve(checked).then((result) => (result._tag === 'Right' ? result.right : Promise.reject(result.left)))
    },
  }
}

/** An io-ts codec's `encode`; Standard Schemas are left alone (zod 4's `encode` is a different, throwing API). */
function ownEncode<T>(codec: Decoder<T>): ((value: T) => unknown) | undefined {
  if (typeof codec !== 'object' || codec === null || '~standard' in codec) return undefined
  const candidate = (codec as { encode?: unknown }).encode
  return typeof candidate === 'function' ? (value: T) => (candidate as (value: T) => unknown).call(codec, value) : undefined
}
