import { RxpgError } from '../errors.js'
import type { EndReason } from './protocol.js'

export type SseRequestFailedReason = 'unauthorized' | 'forbidden' | 'not-found' | 'status' | 'not-event-stream'

/**
 * The server answered the stream's request with something retrying cannot fix: 401 (`unauthorized`: sign in
 * again, then subscribe again), 403 (`forbidden`), 404 (`not-found`: an unknown channel), another 4xx
 * (`status`), or a 200 that is not an event stream (`not-event-stream`: a proxy's or login page). The stream
 * errors with it; 408, 425, 429 and 5xx are retried instead.
 */
export class SseRequestFailedError extends RxpgError {
  override readonly name = 'SseRequestFailedError'
  readonly code = 'SSE_REQUEST_FAILED'
  constructor(
    readonly info: {
      readonly reason: SseRequestFailedReason
      readonly status: number
      /** The start of the response body (what the server said), or the content type that was not an event stream. */
      readonly detail: string
      readonly url: string
    },
  ) {
    super(`The event stream at ${info.url} was refused (${info.status}, ${info.reason}): ${info.detail}`)
  }
}

export type SseConnectionLostReason = 'network' | 'server-error' | 'silence' | 'ended'

/**
 * Why a stream is reconnecting (on `state$`): the request or the stream failed (`network`), the server
 * answered 408, 425, 429 or 5xx (`server-error`), nothing came for `silenceTimeout` (`silence`: a proxy may
 * buffer the stream), or the server ended it (`ended`, with its `end` reason when it said one).
 */
export class SseConnectionLostError extends RxpgError {
  override readonly name = 'SseConnectionLostError'
  readonly code = 'SSE_CONNECTION_LOST'
  constructor(
    readonly info: {
      readonly reason: SseConnectionLostReason
      readonly detail: string
      readonly status?: number | undefined
      readonly end?: EndReason | undefined
      /** Node's or the platform's error code, when the failure had one. */
      readonly systemCode?: string | undefined
    },
    options?: { cause?: unknown },
  ) {
    super(`The event stream was interrupted (${info.reason}): ${info.detail}`, options)
  }
}
