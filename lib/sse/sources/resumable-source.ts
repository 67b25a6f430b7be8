import { concat, defer, from as observableFrom, map, of, switchMap, type Observable } from 'rxjs'
import { checkOptionNames } from '../../option-checks.js'
import type { SourceEvent, SourceItem, SseSource } from '../source.js'
import { defaultData } from './default-data.js'
import { durableResetReason } from './reset-errors.js'

export interface ResumableSourceOptions<T> {
  /**
   * The events after `from` (a token `token` returned), then live; `undefined`: a fresh start. Error with
   * an error `isReset` recognises when `from` cannot be resumed.
   */
  readonly open: (from: string | undefined) => Observable<T>
  /** The resume token of a value. Written as the SSE `id`: no CR, LF or NUL. */
  readonly token: (value: T) => string
  /** The SSE data of a value. Default: strings as they are, anything else as JSON. */
  readonly data?: ((value: T) => string) | undefined
  /** Which errors of `open(from)` mean "cannot resume from there". Default: rxpg's durable token errors. */
  readonly isReset?: ((error: unknown) => 'expired' | 'invalid' | undefined) | undefined
  /**
   * Where a fresh start begins: a token `open` continues after (the position of "now"). A fresh stream is then
   * opened with `open(start())`, and its client is ready at that position at once. Without it, `open(undefined)`,
   * and a fresh stream has no position before its first event: its client is not `open` until then, and a
   * reconnection before it starts afresh, without what came meanwhile.
   */
  readonly start?: (() => string | PromiseLike<string>) | undefined
}

const RESUMABLE_SOURCE_OPTIONS = { open: true, token: true, data: true, isReset: true, start: true } as const satisfies Record<keyof ResumableSourceOptions<unknown>, true>

/**
 * Any stream that many readers can start after a token (a table change feed, a log of your own):
 * each SSE stream opens it on its own, from the client's position (not a replication stream: its slot has one
 * reader at a time). For a durable channel with many clients,
 * `durableSource` shares one reader among them instead.
 */
export function resumableSource<T>(options: ResumableSourceOptions<T>): SseSource<T> {
  checkOptionNames('rxpg/sse', 'resumableSource', options, RESUMABLE_SOURCE_OPTIONS, { noun: "resumableSource's options", required: true })
  const { token, start } = options
  const events = (from: string | undefined) => options.open(from).pipe(map((value): SourceEvent<T> => ({ value, token: token(value) })))
  return {
    resumable: true,
    open: (from) =>
      from !== undefined || start === undefined
        ? events(from)
        : defer(() => {
            // A position known now is written at once (in virtual time too); one still to come, when it comes.
            const position = start()
            return typeof position === 'string' ? of(position) : observableFrom(position)
          }).pipe(switchMap((position) => concat(of<SourceItem<T>>({ position }), events(position)))),
    data: options.data ?? defaultData,
    isReset: options.isReset ?? durableResetReason,
  }
}
