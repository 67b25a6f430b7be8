import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Observable, SchedulerLike } from 'rxjs'
import type { SseSource } from './source.js'
import type { StreamEndReason } from './stream-session.js'

/** The request of a stream, the same for Node and Web handlers. */
export interface SseRequest {
  readonly url: URL
  /** A request header (lower or mixed case), or undefined. */
  header(name: string): string | undefined
  /** The framework's own request: a Node `IncomingMessage` or a Web `Request`. */
  readonly raw: IncomingMessage | Request
}

/** What `authorize` grants a connection. */
export interface SseAccess<U, K extends string = string> {
  /** Who this is: given to `canSee` with every event. */
  readonly user: U
  /** The channels this user may read (default: all). Asking for another is a 403. */
  readonly channels?: readonly K[] | undefined
  /** When the credential expires (ms since the epoch, in the endpoint scheduler's clock): the stream ends then, and a credential already expired is a 401. */
  readonly expiresAt?: number | undefined
  /** Emits (or ends) when the access is revoked (a logout, a role change): the stream ends at once. */
  readonly revoked?: Observable<unknown> | undefined
}

/** What `authorize` returns to refuse a connection (made by `refuse`): an HTTP answer, never an empty stream. */
export interface SseRefusal {
  readonly refuse: 401 | 403
  readonly message?: string | undefined
  /** Extra headers, e.g. `WWW-Authenticate` with a 401. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** The channels of an endpoint: a source (`durableSource`, `resumableSource`, `liveSource`) or any Observable (live-only). */
export type SseChannels<C> = { readonly [K in keyof C]: SseSource<C[K]> | Observable<C[K]> }

/** One event as `canSee` gets it: the channel's name and its value, typed per channel. */
export type SseChannelEvent<C> = { [K in keyof C & string]: { readonly channel: K; readonly value: C[K] } }[keyof C & string]

export interface SseEndpointOptions<C, U> {
  /** The channels a client may ask for with `?channel=name` (repeated; none: all it may read). Names may not start with `rxpg-` nor hold CR, LF or NUL. */
  readonly channels: SseChannels<C>
  /** Per connection: who is this, which channels may they read, until when. Default: everyone, every channel. */
  readonly authorize?: ((request: SseRequest) => SseAccess<U, keyof C & string> | SseRefusal | Promise<SseAccess<U, keyof C & string> | SseRefusal>) | undefined
  /** Per event, replayed ones included: may this user see it? Default: yes. */
  readonly canSee?: ((event: SseChannelEvent<C>, user: NoInfer<U>) => boolean) | undefined
  /** Quiet time before a heartbeat comment, in ms (default 15000); `false`: none. */
  readonly heartbeat?: number | false | undefined
  /** The `retry:` a native EventSource waits before reconnecting, in ms (default 1000). */
  readonly retry?: number | undefined
  /** A stream ends cleanly after this long (ms) and the client resumes on a new one; default `false` (never). */
  readonly maxLifetime?: number | false | undefined
  /**
   * Most bytes one client may hold (default 512 KiB): past half of it resumable channels pause; a live-only
   * event that comes while the client holds more cuts it off instead of being queued. One larger event still
   * goes out whole, so a client holds at most this plus one event.
   */
  readonly maxBufferedBytes?: number | undefined
  /** A client that takes nothing for this long (ms) while bytes wait is cut off (default 20000). */
  readonly drainTimeout?: number | undefined
  /** On `close()`, clients are told to reconnect after a random delay up to this (ms, default 5000), so they do not all come back at once. */
  readonly shutdownSpread?: number | undefined
  /** Runs every timer (heartbeats, lifetimes, credential expiry, drain time-outs). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike | undefined
  /** Randomness for the shutdown spread (default `Math.random`). */
  readonly random?: (() => number) | undefined
  /** A source that failed (its stream ended with an `error` end event) or an `authorize` that threw (a 500). Default: a process warning. */
  readonly onError?: ((error: unknown, context: { readonly channel?: string | undefined }) => void) | undefined
}

/** Counters of an endpoint. */
export interface SseStats {
  /** Streams open now. */
  readonly open: number
  readonly opened: number
  /** Requests answered with 401, 403 or 404. */
  readonly refused: number
  /** Streams ended, by reason (`slow`: cut off; `client-closed`: the client went away). */
  readonly ended: Readonly<Record<StreamEndReason, number>>
  readonly eventsWritten: number
  /** The most bytes one stream has held at once. */
  readonly maxHeldBytes: number
}

/** An SSE endpoint: mount `handle` on a Node server or framework, or `fetch` on a Web one. */
export interface SseEndpoint {
  /** Node: `http.createServer(endpoint.handle)`, Express `app.get(path, endpoint.handle)`, Fastify `reply.hijack(); endpoint.handle(request.raw, reply.raw)`, Koa `ctx.respond = false; endpoint.handle(ctx.req, ctx.res)`. Resolves once the stream started or the request was answered. */
  readonly handle: (request: IncomingMessage, response: ServerResponse) => Promise<void>
  /** Web: Hono `(c) => endpoint.fetch(c.req.raw)`, a Next.js route handler `GET = (request) => endpoint.fetch(request)`. */
  readonly fetch: (request: Request) => Promise<Response>
  /** Ends every stream with a `shutdown` end event (clients reconnect elsewhere, spread over `shutdownSpread`) and answers later requests with 503. */
  close(): Promise<void>
  stats(): SseStats
}
