import type { ChannelDecoders, ServerSentEventsOptions } from './types.js'

/**
 * Refuses a stream's options that could not work, when the stream is made: no channel, or a silence time-out
 * that is not a positive, finite number (0 would abort every connection as soon as it starts). Throws a
 * RangeError that names the option.
 */
export function assertClientOptions<C extends ChannelDecoders>(options: ServerSentEventsOptions<C>): void {
  if (Object.keys(options.channels ?? {}).length === 0) throw new RangeError('rxpg/browser: fromServerSentEvents needs at least one channel in `channels`')
  const silence: unknown = options.silenceTimeout
  if (silence !== undefined && silence !== false && (typeof silence !== 'number' || !Number.isFinite(silence) || silence <= 0)) {
    throw new RangeError(`rxpg/browser: silenceTimeout must be a positive, finite number of ms or false; got ${String(silence)}`)
  }
}
