import { map, type Observable } from 'rxjs'
import type { SourceEvent, SseSource } from '../source.js'
import { defaultData } from './default-data.js'

export interface LiveSourceOptions<T> {
  /** The SSE data of a value. Default: strings as they are, a notification's payload, anything else as JSON. */
  readonly data?: (value: T) => string
}

/**
 * A channel without resume tokens: a LISTEN channel, a decoded pipeline, any Observable. Each stream
 * subscribes to it on its own (a channel of the listener is shared anyway). After a reconnection the
 * client gets a `live-only` reset for it: what was sent meanwhile is lost, and the client knows.
 */
export function liveSource<T>(source: Observable<T>, options: LiveSourceOptions<T> = {}): SseSource<T> {
  const data = options.data ?? defaultData
  return {
    resumable: false,
    open: () => source.pipe(map((value): SourceEvent<T> => ({ value }))),
    data,
  }
}
