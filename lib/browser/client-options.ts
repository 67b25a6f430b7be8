import { MAX_TIMER_MS } from '../timer-limit.js'
import type { ChannelDecoders, ServerSentEventsOptions } from './types.js'

/**
 * Refuses a stream's options that could not work, when the stream is made: no channel, or a silence time-out
 * that is not a positive, finite number (0 would abort every connection as soon as it starts). Throws a
 * RangeError that names the option. (Kept small: it is part of the browser bundle.)
 */
export function assertClientOptions<C extends ChannelDecoders>(options: ServerSentEventsOptions<C>): void {
  if (Object.keys(options.channels ?? {}).length === 0) throw new RangeError('rxpg/browser: channels is empty')
  const silence = options.silenceTimeout
  // Inline, without a typeof (NaN and most non-numbers fail the comparisons): bytes count in the browser bundle.
  if (silence !== undefined && silence !== false && !(silence > 0 && silence <= MAX_TIMER_MS)) {
    throw new RangeError(`rxpg/browser: silenceTimeout must be over 0 and at most ${MAX_TIMER_MS} ms, or false; got ${String(silence)}`)
  }
}
