import { map, type Observable } from 'rxjs'
import { checkOptionNames } from '../../option-checks.js'
import type { ListenerState } from '../../types.js'
import type { SourceEvent, SseSource } from '../source.js'
import { defaultData } from './default-data.js'
import { listenerGaps } from './listener-gaps.js'

export interface LiveSourceOptions<T> {
  /** The SSE data of a value. Default: strings as they are, a notification's payload, anything else as JSON. */
  readonly data?: ((value: T) => string) | undefined
  /**
   * The listener the source's notifications come from (a `PgListener`): when it loses its connection, every
   * open stream gets a `live-only` reset for this channel (before anything from after the loss), as a client
   * that reconnected does. Without it, what the listener missed while it reconnected is lost without a word to
   * the clients.
   */
  readonly listener?: { readonly state$: Observable<ListenerState> } | undefined
}

const LIVE_SOURCE_OPTIONS = { data: true, listener: true } as const satisfies Record<keyof LiveSourceOptions<unknown>, true>

/**
 * A channel without resume tokens: a LISTEN channel, a decoded pipeline, any Observable. Each stream
 * subscribes to it on its own (a channel of the listener is shared anyway). After a reconnection the
 * client gets a `live-only` reset for it: what was sent meanwhile is lost, and the client knows. With
 * `listener`, so it does when the server's listener loses its connection.
 */
export function liveSource<T>(source: Observable<T>, options: LiveSourceOptions<T> = {}): SseSource<T> {
  // A misspelt `listener` would leave the client unaware of the server's gaps.
  checkOptionNames('rxpg/sse', 'liveSource', options, LIVE_SOURCE_OPTIONS, { noun: "liveSource's options" })
  const data = options.data ?? defaultData
  return {
    resumable: false,
    open: () => source.pipe(map((value): SourceEvent<T> => ({ value }))),
    data,
    ...(options.listener === undefined ? {} : { missed: listenerGaps(options.listener.state$) }),
  }
}
