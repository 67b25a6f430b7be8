import { mergeMap, type OperatorFunction } from 'rxjs'
import type { DecodeError, Either } from '../index.js'
import type { DurableMessage } from './types.js'

/**
 * Keeps the messages whose value decoded and unwraps them; the others go to `onInvalid` (the durable
 * counterpart of `decodeValid`). Use it after `log.read(typedChannel)`: a bad message is skipped, not fatal,
 * and its token still moves the reader forward.
 *
 * ```ts
 * log.read(OrderPlaced, { from: token }).pipe(validMessages((error, message) => deadLetter(message.token, error)))
 * ```
 */
export function validMessages<T>(
  onInvalid?: (error: DecodeError, message: DurableMessage<Either<DecodeError, T>>) => void,
): OperatorFunction<DurableMessage<Either<DecodeError, T>>, DurableMessage<T>> {
  return mergeMap((message) => {
    if (message.value._tag === 'Right') return [{ ...message, value: message.value.right }]
    onInvalid?.(message.value.left, message)
    return []
  })
}
