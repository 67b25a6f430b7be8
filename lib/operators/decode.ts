import { Observable, Subscriber, type OperatorFunction } from 'rxjs'
import { RxpgError } from '../errors.js'
import type { MetricsRecorder } from '../metrics.js'
import type { PgNotification } from '../pg-notification.js'
import { isPromiseLike, runnerFor, type Attempt, type DecodedType, type Decoder, type Either, type Run } from './decoder.js'

/**
 * A payload that did not decode (`direction: 'receive'`), or a value a typed channel refused to send because
 * its encoded form would not decode on the other side (`direction: 'send'`). Nothing throws it into a stream:
 * it arrives as the `Left` of an `Either`, or at an `onInvalid` handler.
 */
export class DecodeError extends RxpgError {
  override readonly name = 'DecodeError'
  readonly code = 'DECODE_FAILED'
  constructor(
    readonly info: {
      readonly channel: string
      /** The raw payload (receive), or the encoded payload that was not sent (send). */
      readonly payload: string
      /** What the decoder said, one message per problem (`path: message` where it gave a path). */
      readonly messages: readonly string[]
      readonly direction: 'receive' | 'send'
    },
    options?: { cause?: unknown },
    /** The message, when not the receiving side's: a typed send says its own (typed-channel.ts), out of the browser's bundle. */
    message = `A payload on channel ${JSON.stringify(info.channel)} did not decode: ${info.messages.join('; ')}`,
  ) {
    super(message, options)
  }
}

export interface DecodeOptions {
  /**
   * `true` (default): the payload is parsed with `JSON.parse` and the parsed value is decoded; a payload that
   * is not JSON is a `Left`. `false`: the decoder gets the raw payload string.
   */
  readonly json?: boolean | undefined
  /** Counts each failure with `recordDecodeFailure()`; pass `db.metrics` to see failures in the listener's counters. */
  readonly metrics?: MetricsRecorder | undefined
}

/** `decode`'s handler: every result on. One function for every `decode` (not one per call). */
const emitResult = <T>(subscriber: Subscriber<Either<DecodeError, T>>, result: Either<DecodeError, T>): void => subscriber.next(result)

/**
 * Turns each notification into a typed value, or a `DecodeError` describing why it could not: the stream
 * goes on either way.
 *
 * Use it right after `db.channel(name)` whenever you want to see bad payloads (to log, count or dead-letter
 * them); use `decodeValid` when you only want the good ones. The decoder can be a Standard Schema (zod,
 * valibot, ArkType, ...), an io-ts codec (any `{ decode(u): Either }`), or a function returning an `Either`,
 * and the value type is inferred from it. A decoder that throws gives a `Left` too.
 *
 * Standard Schemas may validate asynchronously (a `Promise` result, e.g. zod's async refinements). Such
 * validations run concurrently, but results are emitted in the order the notifications arrived: a quick
 * result waits for slower ones ahead of it. Synchronous decoders never wait and emit at once. An error or
 * unsubscription from upstream ends the stream at once, without waiting for pending validations
 * (RxJS's rule for `concatMap`); completion waits for them.
 *
 * ```ts
 * import { isRight } from 'fp-ts/Either'
 * import { z } from 'zod'
 *
 * const Order = z.object({ id: z.number(), total: z.number() })
 * db.channel('orders')
 *   .pipe(decode(Order, { metrics: db.metrics }))
 *   .subscribe((result) => (isRight(result) ? ship(result.right) : log.warn(result.left.message)))
 * ```
 *
 * @param decoder Standard Schema, io-ts style `{ decode }` object or `(u: unknown) => Either<E, T>`.
 * @param options `json: false` to decode the raw payload string; `metrics` to count failures.
 * @returns An operator from notifications to `Either<DecodeError, T>`.
 */
export function decode<D extends Decoder<unknown>>(decoder: D, options?: DecodeOptions): OperatorFunction<PgNotification, Either<DecodeError, DecodedType<D>>>
export function decode<T>(decoder: Decoder<T>, options: DecodeOptions = {}): OperatorFunction<PgNotification, Either<DecodeError, T>> {
  return decodeWith(decoder, options, emitResult)
}

/** @internal Handles one result in order; may throw (a user callback), which errors the stream. */
export type ResultHandler<T, R> = (subscriber: Subscriber<R>, result: Either<DecodeError, T>) => void

interface Slot<T> {
  result: Either<DecodeError, T> | undefined
}

/** @internal The operator behind `decode` and `decodeValid`: decodes, keeps arrival order, hands each result on. */
export function decodeWith<T, R>(decoder: Decoder<T>, options: DecodeOptions, handle: ResultHandler<T, R>): OperatorFunction<PgNotification, R> {
  const run = sharedRunner(decoder)
  const json = options.json ?? true
  const metrics = options.metrics
  return (source) => new Observable<R>((subscriber) => source.subscribe(new DecodeSubscriber(run, json, metrics, handle, subscriber)))
}

/**
 * One runner per decoder, however many operators use it: a runner is a closure and its context, and a
 * delivery to one of thousands of channels, each decoding with the same schema, then finds it in cache. Kept
 * here, not in `runnerFor`, so the browser client (which decodes with one decoder) does not carry it.
 */
function sharedRunner<T>(decoder: Decoder<T>): Run<T> {
  const known = runners.get(decoder)
  if (known !== undefined) return known as Run<T>
  const run = runnerFor(decoder)
  runners.set(decoder, run as Run<unknown>)
  return run
}

const runners = new WeakMap<Decoder<unknown>, Run<unknown>>()

/**
 * One subscription's state in one object (its methods are shared, the decoder's runner is shared by every
 * subscription with the same decoder), so a delivery touches little memory: with thousands of channels each
 * delivery lands on a different subscription, and every object on the way is a likely cache miss. A
 * Subscriber of its own: the channel calls it directly, where an observer object would be wrapped in two more
 * layers for every notification.
 */
class DecodeSubscriber<T, R> extends Subscriber<PgNotification> {
  /** Results waiting for an earlier asynchronous validation; unallocated while every decode is synchronous. */
  private waiting: Slot<T>[] | undefined = undefined
  private sourceDone = false

  constructor(
    private readonly run: Run<T>,
    private readonly json: boolean,
    private readonly metrics: MetricsRecorder | undefined,
    private readonly handle: ResultHandler<T, R>,
    private readonly downstream: Subscriber<R>,
  ) {
    super()
    // Unsubscribed downstream: stop, and forget what waits for a validation.
    downstream.add(this)
    this.add(() => {
      this.waiting = undefined
    })
  }

  protected override _next(notification: PgNotification): void {
    const result = this.decode(notification)
    if (!isPromiseLike(result)) {
      if (this.waiting === undefined || this.waiting.length === 0) this.deliver(result)
      else this.waiting.push({ result })
      return
    }
    const slot: Slot<T> = { result: undefined }
    ;(this.waiting ??= []).push(slot)
    void result.then((settled) => {
      slot.result = settled
      if (!this.downstream.closed) this.flush()
    })
  }

  /** One notification's result, synchronously when the decoder is. Never throws. */
  private decode(notification: PgNotification): Either<DecodeError, T> | Promise<Either<DecodeError, T>> {
    let input: unknown = notification.payload
    if (this.json) {
      try {
        input = JSON.parse(notification.payload)
      } catch (error) {
        return this.settle(notification, { _tag: 'Left', left: { messages: [`the payload is not JSON (${(error as Error).message})`], cause: error } })
      }
    }
    const attempt = this.run(input)
    return isPromiseLike(attempt) ? attempt.then((settled) => this.settle(notification, settled)) : this.settle(notification, attempt)
  }

  private settle(notification: PgNotification, attempt: Attempt<T>): Either<DecodeError, T> {
    if (attempt._tag === 'Right') return attempt
    this.metrics?.recordDecodeFailure()
    const { messages, cause } = attempt.left
    const error = new DecodeError(
      { channel: notification.channel, payload: notification.payload, messages, direction: 'receive' },
      cause === undefined ? undefined : { cause },
    )
    return { _tag: 'Left', left: error }
  }

  protected override _error(error: unknown): void {
    this.downstream.error(error)
    this.unsubscribe()
  }

  protected override _complete(): void {
    this.sourceDone = true
    if (this.waiting === undefined || this.waiting.length === 0) this.downstream.complete()
  }

  private deliver(result: Either<DecodeError, T>): boolean {
    try {
      this.handle(this.downstream, result)
      return true
    } catch (error) {
      this.downstream.error(error)
      return false
    }
  }

  private flush(): void {
    while (this.waiting !== undefined && this.waiting.length > 0 && !this.downstream.closed) {
      const result = this.waiting[0]!.result
      if (result === undefined) return
      this.waiting.shift()
      if (!this.deliver(result)) return
    }
    if (this.sourceDone && !this.downstream.closed) this.downstream.complete()
  }
}
