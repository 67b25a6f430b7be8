import type { OperatorFunction } from 'rxjs'
import type { PgNotification } from '../types.js'
import { decodeWith, type DecodeError, type DecodeOptions } from './decode.js'
import type { DecodedType, Decoder } from './decoder.js'

export interface DecodeValidOptions extends DecodeOptions {
  /**
   * Called with each payload that did not decode (log it, dead-letter it). If it throws, the stream errors
   * with what it threw, as a callback given to `tap` would.
   */
  readonly onInvalid?: ((error: DecodeError) => void) | undefined
}

/**
 * Turns each notification into a typed value and silently skips the ones that do not decode (after telling
 * `onInvalid`, and counting them when given `metrics`).
 *
 * Use it when bad payloads are someone else's problem and your code only wants good values; use `decode`
 * when the stream itself should carry failures. Decoders, JSON handling and the ordering of asynchronous
 * Standard Schema validations are those of `decode`.
 *
 * ```ts
 * const Order = z.object({ id: z.number(), total: z.number() })
 * db.channel('orders')
 *   .pipe(decodeValid(Order, { onInvalid: (error) => log.warn(error.info), metrics: db.metrics }))
 *   .subscribe((order) => ship(order)) // order: { id: number; total: number }
 * ```
 *
 * @param decoder Standard Schema, io-ts style `{ decode }` object or `(u: unknown) => Either<E, T>`.
 * @param options `onInvalid` for failures; `metrics` to count them; `json: false` to decode the raw string.
 * @returns An operator from notifications to decoded values.
 */
export function decodeValid<D extends Decoder<unknown>>(decoder: D, options?: DecodeValidOptions): OperatorFunction<PgNotification, DecodedType<D>>
export function decodeValid<T>(decoder: Decoder<T>, options: DecodeValidOptions = {}): OperatorFunction<PgNotification, T> {
  const onInvalid = options.onInvalid
  return decodeWith<T, T>(decoder, options, (subscriber, result) => {
    if (result._tag === 'Right') subscriber.next(result.right)
    else onInvalid?.(result.left)
  })
}
