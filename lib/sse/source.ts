import type { Observable } from 'rxjs'

/**
 * What a source gives one stream: an event (with its resume token when the source has tokens), or the
 * position the stream stands at without an event (where a fresh start begins, where a catch-up ended). A
 * position lets the client resume exactly there even before the next event arrives.
 */
export type SourceItem<T> = SourceEvent<T> | SourcePosition

export interface SourceEvent<T> {
  readonly value: T
  /** The token to resume right after this event (written as the SSE `id`); absent for a live-only source. */
  readonly token?: string | undefined
}

export interface SourcePosition {
  readonly position: string
}

export function isPosition<T>(item: SourceItem<T>): item is SourcePosition {
  return (item as Partial<SourcePosition>).position !== undefined
}

/**
 * A channel of an SSE endpoint: where its events come from, how to start it from a position, and how an event
 * is written. Made by `durableSource`, `resumableSource` or `liveSource`; any Observable given to an
 * endpoint is a `liveSource`.
 */
export interface SseSource<T> {
  /**
   * True when the source issues tokens and `open(token)` continues right after the event of that token: the
   * stream then resumes after a reconnection, and is paused (not cut off) while its client reads slowly.
   */
  readonly resumable: boolean
  /**
   * The events after `from` (a token or position this source issued), then live; `undefined` for a fresh
   * start. It errors with a `CursorExpiredError` or `InvalidTokenError` (or what `isReset` recognises) when
   * it cannot resume from `from`: the client then gets a reset event, never a silent restart.
   */
  open(from: string | undefined): Observable<SourceItem<T>>
  /** The SSE `data` of a value (any text: line breaks and unicode are framed correctly). */
  data(value: T): string
  /**
   * A live-only source's upstream losses: each value means events may have been missed (its listener
   * lost its connection), and every open stream tells its client with a `live-only` reset.
   */
  readonly missed?: Observable<unknown> | undefined
  /** Recognises the errors of `open(from)` that mean "cannot resume from there". Default: rxpg's durable token errors. */
  readonly isReset?: ((error: unknown) => 'expired' | 'invalid' | undefined) | undefined
}
