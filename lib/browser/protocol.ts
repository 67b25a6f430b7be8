/**
 * The wire protocol rxpg's server-sent-events bridge speaks on top of SSE, shared by the server (`rxpg/sse`)
 * and the client (`rxpg/browser`). Kept here, in the browser-safe half, so the client never imports server code.
 *
 * Every application event is named after its channel (`event: orders`). rxpg's own control events are named
 * with the `rxpg-` prefix, which channel names may not use.
 */

/** Written first on every stream: the server-side subscriptions are in place; its `id` is the position to resume from. */
export const READY_EVENT = 'rxpg-ready'
/** A channel could not resume from the position asked for: reload your snapshot; the channel goes on from a fresh start. */
export const RESET_EVENT = 'rxpg-reset'
/** The server ends the stream on purpose; the data says why and, on shutdown, how long to wait before reconnecting. */
export const END_EVENT = 'rxpg-end'
/** Control events and channel names never collide: channels may not start with it. */
export const CONTROL_PREFIX = 'rxpg-'

/** The query parameter naming a channel to receive (repeated for several). */
export const CHANNEL_PARAMETER = 'channel'
/** The query parameter carrying the position for clients that cannot set the `Last-Event-ID` header. */
export const LAST_EVENT_ID_PARAMETER = 'lastEventId'

/**
 * Why a channel was reset:
 * - `'expired'`: the position is older than what the source keeps (the durable log's retention);
 * - `'invalid'`: the position was not issued by this source (another database, a restore, a malformed id);
 * - `'live-only'`: the channel cannot replay (a plain LISTEN channel): what was sent while the client was away is lost.
 */
export type ResetReason = 'expired' | 'invalid' | 'live-only'

/** The data of a reset event. */
export interface ResetData {
  readonly channel: string
  readonly reason: ResetReason
}

/**
 * Why the server ended a stream:
 * - `'lifetime'`: the stream reached its maximum lifetime (reconnect at once; it resumes);
 * - `'credential-expired'`: the credential it was opened with expired (reconnect at once with a fresh one);
 * - `'revoked'`: the application revoked the access the stream was opened with;
 * - `'shutdown'`: the server is stopping (reconnect after `retry` ms, to another instance);
 * - `'complete'`: every channel of the stream ended;
 * - `'error'`: a source failed (reconnect with back-off; the stream resumes).
 */
export type EndReason = 'lifetime' | 'credential-expired' | 'revoked' | 'shutdown' | 'complete' | 'error'

/** The data of an end event. */
export interface EndData {
  readonly reason: EndReason
  /** How long to wait before reconnecting, in ms (on shutdown, spread so browsers do not all come back at once). */
  readonly retry?: number | undefined
}

/** The data of the ready event. */
export interface ReadyData {
  readonly channels: readonly string[]
}
