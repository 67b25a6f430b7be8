import type { IncomingMessage, ServerResponse } from 'node:http'
import { asyncScheduler, isObservable, type Observable } from 'rxjs'
import { isAnswer, isRefusal, planStream, requestedChannels, type Answer, type StreamPlan } from './connection-plan.js'
import { assertEndpointOptions } from './endpoint-options.js'
import { FrameCache } from './frame-cache.js'
import { STREAM_HEADERS } from './response-headers.js'
import { nodeRequest, webRequest } from './sse-request.js'
import { nodeTransport } from './node-transport.js'
import type { SseSource } from './source.js'
import { liveSource } from './sources/live-source.js'
import { StreamSession, type SessionChannel, type StreamEndReason, type StreamSummary } from './stream-session.js'
import type { TransportFactory } from './transport.js'
import type { SseAccess, SseEndpoint, SseEndpointOptions, SseRequest } from './types.js'
import { webStreamResponse } from './web-transport.js'

const END_REASONS: readonly StreamEndReason[] = ['lifetime', 'credential-expired', 'revoked', 'shutdown', 'complete', 'error', 'client-closed', 'slow']

/**
 * An SSE endpoint over any number of channels: each request is authorized, gets the channels it asks for in
 * one stream, resumes from its `Last-Event-ID`, and is kept alive, bounded and ended as `SseEndpointOptions`
 * says. Mount `handle` on Node's http (Express, Fastify, Koa) or `fetch` on a Web framework (Hono, Next.js).
 *
 * ```ts
 * const endpoint = createSseEndpoint({ channels: { orders: durableSource(log, 'orders'), prices: db.channel('prices') } })
 * http.createServer((request, response) => void endpoint.handle(request, response)).listen(8080)
 * ```
 */
export function createSseEndpoint<C, U = undefined>(options: SseEndpointOptions<C, U>): SseEndpoint {
  assertEndpointOptions(options)
  const scheduler = options.scheduler ?? asyncScheduler
  const random = options.random ?? Math.random
  const onError = options.onError ?? warn
  const channels = new Map<string, SessionChannel>()
  for (const [name, given] of Object.entries(options.channels) as Array<[string, SseSource<unknown> | Observable<unknown>]>) {
    const source = isObservable(given) ? liveSource(given) : given
    channels.set(name, { name, source, frames: new FrameCache(name, source) })
  }
  const known = [...channels.keys()]
  const canSee = options.canSee as ((event: { channel: string; value: unknown }, user: U) => boolean) | undefined
  const sessions = new Set<StreamSession>()
  const ended = Object.fromEntries(END_REASONS.map((reason) => [reason, 0])) as Record<StreamEndReason, number>
  let opened = 0
  let refused = 0
  let eventsWritten = 0
  let maxHeldBytes = 0
  let closing = false

  /** Authorizes and plans a stream, or says which HTTP answer to give instead. */
  const prepare = async (request: SseRequest): Promise<{ plan: StreamPlan; access: SseAccess<U> } | Answer> => {
    if (closing) return { status: 503, message: 'The server is shutting down.', headers: { 'retry-after': '1' } }
    let access: SseAccess<U>
    if (options.authorize === undefined) access = { user: undefined as U }
    else {
      try {
        const result = await options.authorize(request)
        if (isRefusal(result)) return { status: result.refuse, message: result.message ?? (result.refuse === 401 ? 'Unauthorized.' : 'Forbidden.'), ...(result.headers ? { headers: result.headers } : {}) }
        access = result
      } catch (error) {
        onError(error, {})
        return { status: 500, message: 'Authorization failed.' }
      }
    }
    // Who is asking comes first: an unknown channel is a 404 only for a request authorize accepted.
    const asked = requestedChannels(request, known)
    if (isAnswer(asked)) return asked
    const plan = planStream(request, asked, known, access, scheduler.now())
    return isAnswer(plan) ? plan : { plan, access }
  }

  const startSession = (transport: TransportFactory, plan: StreamPlan, access: SseAccess<U>): void => {
    const user = access.user
    const session: StreamSession = new StreamSession(transport, {
      channels: plan.channels.map((name) => channels.get(name)!),
      lastEventId: plan.lastEventId,
      canSee: canSee === undefined ? undefined : (channel, value) => canSee({ channel, value }, user),
      heartbeat: options.heartbeat ?? 15_000,
      retry: options.retry ?? 1000,
      maxLifetime: options.maxLifetime ?? false,
      expiresAt: access.expiresAt,
      revoked: access.revoked,
      maxBufferedBytes: options.maxBufferedBytes ?? 512 * 1024,
      drainTimeout: options.drainTimeout ?? 20_000,
      scheduler,
      onError: (error, channel) => onError(error, channel === undefined ? {} : { channel }),
      onEnd: (summary: StreamSummary) => {
        sessions.delete(session)
        ended[summary.reason] += 1
        eventsWritten += summary.eventsWritten
        if (summary.maxHeldBytes > maxHeldBytes) maxHeldBytes = summary.maxHeldBytes
      },
    })
    sessions.add(session)
    opened += 1
    session.start()
  }

  const answered = (answer: Answer) => {
    if (answer.status < 500) refused += 1
    return answer
  }

  return {
    handle: async (request: IncomingMessage, response: ServerResponse) => {
      const prepared = await prepare(nodeRequest(request))
      if (isAnswer(prepared)) {
        const { status, message, headers } = answered(prepared)
        response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers }).end(message)
        return
      }
      if (response.destroyed) return
      // A HEAD request (a load balancer's health probe) gets what a GET would, without a body: no stream.
      if (request.method === 'HEAD') return void response.writeHead(200, STREAM_HEADERS).end()
      startSession(nodeTransport(request, response), prepared.plan, prepared.access)
    },
    fetch: async (request: Request) => {
      const prepared = await prepare(webRequest(request))
      if (isAnswer(prepared)) {
        const { status, message, headers } = answered(prepared)
        return new Response(message, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers } })
      }
      // A HEAD response's body is dropped by Web frameworks without a cancel: a stream there would never end.
      if (request.method === 'HEAD') return new Response(null, { status: 200, headers: STREAM_HEADERS })
      return webStreamResponse(request.signal, (transport) => startSession(transport, prepared.plan, prepared.access))
    },
    close: async () => {
      closing = true
      const spread = options.shutdownSpread ?? 5000
      for (const session of [...sessions]) session.end('shutdown', Math.round(random() * spread))
    },
    stats: () => {
      let written = eventsWritten
      let held = maxHeldBytes
      for (const session of sessions) {
        written += session.eventsWritten
        held = Math.max(held, session.maxHeldBytes)
      }
      return { open: sessions.size, opened, refused, ended: { ...ended }, eventsWritten: written, maxHeldBytes: held }
    },
  }
}

/** The default `onError`: a process warning where there is a process (Node, Bun, Deno), never silence. */
function warn(error: unknown, context: { readonly channel?: string | undefined }): void {
  const where = context.channel === undefined ? 'authorize' : `channel ${JSON.stringify(context.channel)}`
  const message = `rxpg/sse: ${where} failed: ${error instanceof Error ? error.message : String(error)}`
  const host = globalThis as { process?: { emitWarning?: ((message: string, options: { type: string }) => void) | undefined } | undefined }
  if (host.process?.emitWarning) host.process.emitWarning(message, { type: 'RxpgSseWarning' })
  else queueMicrotask(() => {
    throw new Error(message, { cause: error })
  })
}
