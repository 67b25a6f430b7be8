import type { IncomingMessage } from 'node:http'
import type { SseRequest } from './types.js'

/** A Node request as an `SseRequest` (its URL is relative: resolved against its Host, or localhost). */
export function nodeRequest(request: IncomingMessage): SseRequest {
  const url = new URL(request.url ?? '/', `http://${request.headers.host ?? 'localhost'}`)
  return {
    url,
    header: (name) => {
      const value = request.headers[name.toLowerCase()]
      return Array.isArray(value) ? value[0] : value
    },
    raw: request,
  }
}

/** A Web request as an `SseRequest`. */
export function webRequest(request: Request): SseRequest {
  return { url: new URL(request.url), header: (name) => request.headers.get(name) ?? undefined, raw: request }
}
