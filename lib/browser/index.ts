// rxpg/browser: the client of rxpg/sse. No Node dependency: it runs in browsers, workers and Node.
// A build check (support/browser-bundle.ts, run by `npm run build` and the specs) fails when anything under
// lib/browser reaches `pg` or a Node module. See docs/sse.md.

export { fromServerSentEvents } from './from-server-sent-events.js'
export { SseConnectionLostError, SseRequestFailedError, type SseConnectionLostReason, type SseRequestFailedReason } from './errors.js'
export type { ChannelDecoders, EventStreamState, HeadersSource, ServerSentEvent, ServerSentEvents, ServerSentEventsOptions } from './types.js'
export type { EndReason, ResetReason } from './protocol.js'
export { DecodeError } from '../operators/decode.js'
export type { BackoffOptions } from '../backoff.js'
export type { Decoder, DecodedType, Either } from '../operators/decoder.js'
