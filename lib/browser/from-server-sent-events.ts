import { asyncScheduler, BehaviorSubject, Observable, share } from 'rxjs'
import type { Either } from '../operators/decoder.js'
import type { DecodeError } from '../operators/decode.js'
import { assertClientOptions } from './client-options.js'
import { dataDecoder, type DataDecoder } from './decode-data.js'
import { EventStreamConnection } from './event-stream-connection.js'
import { RESET_EVENT, type ResetData } from './protocol.js'
import { requestUrl } from './request-url.js'
import type { ChannelDecoders, EventStreamState, ServerSentEvent, ServerSentEvents, ServerSentEventsOptions } from './types.js'

const DEFAULT_BACKOFF = { initialDelay: 500, maxDelay: 15_000, factor: 2, jitter: 0.5 } as const

/**
 * The events of a server-sent-events stream as an Observable: typed and decoded per channel, reconnecting
 * with back-off and resuming after the last event received, with the connection's life on `state$`.
 *
 * Fetch-based (so it can send headers, such as a credential refreshed before each reconnection) and free of
 * Node: it runs in browsers, workers and Node alike. It speaks rxpg's protocol (`rxpg/sse`): a channel whose
 * position cannot be resumed arrives as a `reset` value (reload its snapshot), and the server's planned ends
 * (lifetime, expired credential, shutdown) are reconnected without a back-off. Any SSE endpoint whose event
 * names are the channels works too.
 *
 * ```ts
 * const events = fromServerSentEvents('/events', { channels: { orders: Order }, headers: () => ({ authorization: `Bearer ${token()}` }) })
 * events.subscribe((event) => (event.type === 'message' ? store.apply(event.value) : event.type === 'reset' ? store.reload() : console.warn(event.error)))
 * ```
 *
 * The returned Observable is shared: the first subscriber opens the connection, the last one closes it, and
 * a later subscription resumes from `lastEventId`. It errors only with `SseRequestFailedError` (401, 403,
 * 404, or a response that is not an event stream), and never completes by itself.
 */
export function fromServerSentEvents<C extends ChannelDecoders>(url: string | URL, options: ServerSentEventsOptions<C>): ServerSentEvents<C> {
  assertClientOptions(options)
  const names = Object.keys(options.channels)
  const json = options.json ?? true
  const decoders = new Map<string, DataDecoder>(names.map((name) => [name, dataDecoder(name, options.channels[name]!, json)]))
  const state = new BehaviorSubject<EventStreamState>({ status: 'closed' })
  let position = options.lastEventId
  const connectionOptions = {
    url: requestUrl(url, names),
    headers: options.headers,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    silenceTimeout: options.silenceTimeout ?? 35_000,
    credentials: options.credentials ?? 'same-origin',
    scheduler: options.scheduler ?? asyncScheduler,
    fetch: options.fetch ?? ((...request: Parameters<typeof fetch>) => fetch(...request)),
  }

  const events = new Observable<ServerSentEvent<C>>((subscriber) => {
    // Events leave in arrival order, also when an asynchronous decoder (a Standard Schema's async refinement) holds one back.
    let pending: Promise<unknown> | undefined
    const inOrder = <T>(result: T | Promise<T>, deliver: (value: T) => void) => {
      if (pending === undefined && !(result instanceof Promise)) return deliver(result)
      const next: Promise<unknown> = (pending ?? Promise.resolve()).then(() => result).then((value) => {
        if (!subscriber.closed) deliver(value)
        if (pending === next) pending = undefined
      })
      pending = next
    }
    let failed = false
    const connection = new EventStreamConnection(connectionOptions, position, {
      event: (message, id) => {
        position = id
        const name = message.event ?? 'message'
        if (name === RESET_EVENT) {
          const reset = parseReset(message.data)
          if (reset !== undefined && decoders.has(reset.channel)) {
            inOrder({ type: 'reset', channel: reset.channel, reason: reset.reason, id } as ServerSentEvent<C>, (event) => subscriber.next(event))
          }
          return
        }
        const decode = decoders.get(name)
        if (decode === undefined) return
        inOrder(decode(message.data), (result: Either<DecodeError, unknown>) =>
          subscriber.next(
            (result._tag === 'Right'
              ? { type: 'message', channel: name, value: result.right, id }
              : { type: 'invalid', channel: name, error: result.left, id }) as ServerSentEvent<C>,
          ),
        )
      },
      state: (next) => state.next(next),
      failed: (error) => {
        failed = true
        state.next({ status: 'closed', error })
        subscriber.error(error)
      },
    })
    connection.start()
    return () => {
      connection.stop()
      position = connection.lastEventId
      if (!failed) state.next({ status: 'closed' })
    }
  }).pipe(share())

  return Object.defineProperties(events, {
    state$: { value: state.asObservable(), enumerable: true },
    lastEventId: { get: () => position, enumerable: true },
  }) as ServerSentEvents<C>
}

function parseReset(data: string): ResetData | undefined {
  try {
    const parsed = JSON.parse(data) as Partial<ResetData>
    return typeof parsed.channel === 'string' && typeof parsed.reason === 'string' ? (parsed as ResetData) : undefined
  } catch {
    return undefined
  }
}
