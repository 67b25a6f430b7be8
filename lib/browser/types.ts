import type { Observable, SchedulerLike } from 'rxjs'
import type { BackoffOptions } from '../backoff.js'
import type { DecodeError } from '../operators/decode.js'
import type { DecodedType, Decoder } from '../operators/decoder.js'
import type { SseConnectionLostError, SseRequestFailedError } from './errors.js'
import type { ResetReason } from './protocol.js'

/** The decoders of a stream's channels, by channel name. */
export type ChannelDecoders = Readonly<Record<string, Decoder<unknown>>>

/** Headers for each request, or a function called before each (re)connection, so a refreshed credential is used. */
export type HeadersSource = Readonly<Record<string, string>> | (() => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>)

export interface ServerSentEventsOptions<C extends ChannelDecoders> {
  /** The channels to receive and how to decode each: asked for with `?channel=name`, decoded with the same decoders as the server side (Standard Schema, io-ts style, a function). */
  readonly channels: C
  /** Sent with every request (e.g. `authorization`). A function is called before each connection. */
  readonly headers?: HeadersSource | undefined
  /**
   * Resume after this position (an `id` you stored); default (also `undefined`): the server's fresh start. Sent as
   * the `Last-Event-ID` header: one holding CR, LF or NUL (no stream gives one) is refused by `fetch` at every
   * attempt, retried as a `network` failure.
   */
  readonly lastEventId?: string | undefined
  /** `true` (default): data is JSON, parsed before decoding; `false`: the decoder gets the data string. */
  readonly json?: boolean | undefined
  /** Back-off between failed connections (default 500 ms doubling to 15 s, half of it random). */
  readonly backoff?: BackoffOptions | undefined
  /** Reconnect when nothing (not even a heartbeat) came for this long, in ms (default 35000, a bit over twice the server's 15 s heartbeat); `false`: never. */
  readonly silenceTimeout?: number | false | undefined
  /** `fetch`'s `credentials` (default `'same-origin'`; `'include'` to send cookies cross-origin). */
  readonly credentials?: 'omit' | 'same-origin' | 'include' | undefined
  /** Runs the back-off and silence timers. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
  /** The `fetch` to use (default the global one). */
  readonly fetch?: typeof fetch | undefined
}

type Channel<C> = keyof C & string

/** One event of a stream: a decoded value, a value that did not decode, or a reset of a channel. */
export type ServerSentEvent<C extends ChannelDecoders> =
  | {
      [K in Channel<C>]: {
        readonly type: 'message'
        readonly channel: K
        readonly value: DecodedType<C[K]>
        /** The stream's position after this event: store it and pass it as `lastEventId` to resume after it. */
        readonly id: string | undefined
      }
    }[Channel<C>]
  | {
      [K in Channel<C>]: {
        readonly type: 'invalid'
        readonly channel: K
        /** What the decoder said; the stream goes on. */
        readonly error: DecodeError
        readonly id: string | undefined
      }
    }[Channel<C>]
  | {
      readonly type: 'reset'
      readonly channel: Channel<C>
      /** The position asked for could not be resumed: reload this channel's snapshot; events go on from a fresh start. */
      readonly reason: ResetReason
      readonly id: string | undefined
    }

/** The connection's life, as `state$` shows it. */
export type EventStreamState =
  | { readonly status: 'connecting'; readonly attempt: number }
  | { readonly status: 'open' }
  | {
      readonly status: 'reconnecting'
      /** 1 for the first retry after a loss, counting up while connections fail. */
      readonly attempt: number
      /** The wait before the next attempt, in ms. */
      readonly delay: number
      readonly cause: SseConnectionLostError
    }
  | {
      readonly status: 'closed'
      /** Why it stopped, when it was not an unsubscribe: a refusal retrying cannot fix. */
      readonly error?: SseRequestFailedError | undefined
    }

/**
 * The events of a server-sent-events stream, hot and shared: the first subscriber opens the connection, the
 * last one closes it; a later subscription resumes where the stream was.
 */
export interface ServerSentEvents<C extends ChannelDecoders> extends Observable<ServerSentEvent<C>> {
  /** The connection's state, replaying the current one. */
  readonly state$: Observable<EventStreamState>
  /** The position to resume from: the id of the last event received (or the one given). */
  readonly lastEventId: string | undefined
}
