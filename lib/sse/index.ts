// rxpg/sse: any Observable (a channel, a decoded pipeline, a durable channel, a table change feed) as a
// server-sent-events endpoint for Node's http and for Web Responses, resuming through source tokens.
// See docs/sse.md.

export { createSseEndpoint } from './create-sse-endpoint.js'
export { refuse } from './refuse.js'
export { durableSource, type DurableSourceOptions } from './sources/durable-source.js'
export { resumableSource, type ResumableSourceOptions } from './sources/resumable-source.js'
export { liveSource, type LiveSourceOptions } from './sources/live-source.js'
export { durableResetReason } from './sources/reset-errors.js'
export { eventFrame } from './framing.js'
export type { SourceEvent, SourceItem, SourcePosition, SseSource } from './source.js'
export type { StreamEndReason } from './stream-session.js'
export type { SseAccess, SseChannelEvent, SseChannels, SseEndpoint, SseEndpointOptions, SseRefusal, SseRequest, SseStats } from './types.js'
export type { EndData, EndReason, ReadyData, ResetData, ResetReason } from '../browser/protocol.js'
