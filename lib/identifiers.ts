import {
  InvalidChannelNameError,
  InvalidPayloadError,
  MAX_CHANNEL_NAME_BYTES,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
} from './errors.js'

/**
 * Returns the error for a channel name PostgreSQL would not keep exactly, or undefined when it is valid.
 * Returning (not throwing) keeps the send path free of try/catch.
 */
export function channelNameProblem(name: unknown): InvalidChannelNameError | undefined {
  if (typeof name !== 'string') return new InvalidChannelNameError({ channel: name, reason: 'not-a-string', limit: MAX_CHANNEL_NAME_BYTES })
  if (name.length === 0) return new InvalidChannelNameError({ channel: name, reason: 'empty', limit: MAX_CHANNEL_NAME_BYTES })
  // A JS string's UTF-8 size is at least its length and at most 3 times it: skip the byte count when it cannot matter.
  if (name.length * 3 > MAX_CHANNEL_NAME_BYTES) {
    const byteLength = Buffer.byteLength(name, 'utf8')
    if (byteLength > MAX_CHANNEL_NAME_BYTES) {
      return new InvalidChannelNameError({ channel: name, reason: 'too-long', byteLength, limit: MAX_CHANNEL_NAME_BYTES })
    }
  }
  if (name.includes('\0')) return new InvalidChannelNameError({ channel: name, reason: 'contains-nul', limit: MAX_CHANNEL_NAME_BYTES })
  if (!name.isWellFormed()) return new InvalidChannelNameError({ channel: name, reason: 'malformed-unicode', limit: MAX_CHANNEL_NAME_BYTES })
  return undefined
}

/** Throws `InvalidChannelNameError` unless `name` is a channel name PostgreSQL keeps exactly. */
export function assertChannelName(name: unknown): asserts name is string {
  const problem = channelNameProblem(name)
  if (problem) throw problem
}

/** Returns the error for a payload PostgreSQL would refuse or alter, or undefined when it is valid. */
export function payloadProblem(channel: string, payload: unknown): InvalidPayloadError | PayloadTooLargeError | undefined {
  if (typeof payload !== 'string') return new InvalidPayloadError({ channel, reason: 'not-a-string' })
  if (payload.length * 3 > MAX_PAYLOAD_BYTES) {
    const byteLength = Buffer.byteLength(payload, 'utf8')
    if (byteLength > MAX_PAYLOAD_BYTES) return new PayloadTooLargeError({ channel, byteLength, limit: MAX_PAYLOAD_BYTES })
  }
  if (payload.includes('\0')) return new InvalidPayloadError({ channel, reason: 'contains-nul' })
  if (!payload.isWellFormed()) return new InvalidPayloadError({ channel, reason: 'malformed-unicode' })
  return undefined
}

/** The error for a notification that cannot be sent as it is (its channel name first), or undefined. */
export function notificationProblem(channel: string, payload: unknown): InvalidChannelNameError | InvalidPayloadError | PayloadTooLargeError | undefined {
  return channelNameProblem(channel) ?? payloadProblem(channel, payload)
}

/**
 * Quotes a (validated) channel name as a PostgreSQL identifier: wrapped in double quotes, inner quotes
 * doubled. Quoted identifiers are exact and case-sensitive, so `Orders` and `orders` are two channels.
 */
export function quoteIdentifier(name: string): string {
  return '"' + name.replaceAll('"', '""') + '"'
}

/**
 * A string constant for SQL text that cannot take parameters. Quotes are doubled; a string with a backslash is
 * written E'…' with backslashes doubled (as PostgreSQL's `quote_literal` does), so it reads the same whatever
 * `standard_conforming_strings` says.
 */
export function quoteLiteral(text: string): string {
  const quoted = `'${text.replaceAll("'", "''")}'`
  return text.includes('\\') ? `E${quoted.replaceAll('\\', '\\\\')}` : quoted
}
