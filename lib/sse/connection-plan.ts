import { CHANNEL_PARAMETER, LAST_EVENT_ID_PARAMETER } from '../browser/protocol.js'
import type { SseAccess, SseRefusal, SseRequest } from './types.js'

/** An HTTP answer instead of a stream. */
export interface Answer {
  readonly status: number
  readonly message: string
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** A stream to open: which channels, from where. */
export interface StreamPlan {
  readonly channels: readonly string[]
  readonly lastEventId: string | undefined
}

/** The channels a request asks for (checked once authorized): unknown names are a 404. */
export function requestedChannels(request: SseRequest, known: readonly string[]): readonly string[] | Answer {
  const asked = request.url.searchParams.getAll(CHANNEL_PARAMETER)
  const unknown = asked.filter((name) => !known.includes(name))
  // Names only what was asked for: listing the endpoint's channels would show a user those it may not read.
  if (unknown.length > 0) return { status: 404, message: `Unknown channel(s): ${unknown.join(', ')}.` }
  return [...new Set(asked)]
}

export function isRefusal<U>(result: SseAccess<U> | SseRefusal): result is SseRefusal {
  return (result as Partial<SseRefusal>).refuse !== undefined
}

/**
 * What a request gets once authorized: the channels it asked for (all it may read when it named none), or a
 * 403 for one it may not read, or a 401 for a credential already expired. The position comes from the
 * `Last-Event-ID` header (what a reconnecting EventSource sends), else the `lastEventId` query parameter (for
 * clients that cannot set headers on their first request); the header wins.
 */
export function planStream<U>(request: SseRequest, asked: readonly string[], known: readonly string[], access: SseAccess<U>, now: number): StreamPlan | Answer {
  if (access.expiresAt !== undefined && access.expiresAt <= now) return { status: 401, message: 'The credential has expired.' }
  const allowed = access.channels ?? known
  const forbidden = asked.filter((name) => !allowed.includes(name))
  if (forbidden.length > 0) return { status: 403, message: `Not allowed to read: ${forbidden.join(', ')}.` }
  const channels = asked.length > 0 ? asked : known.filter((name) => allowed.includes(name))
  if (channels.length === 0) return { status: 403, message: 'No channel may be read.' }
  const lastEventId = request.header('last-event-id') ?? request.url.searchParams.get(LAST_EVENT_ID_PARAMETER) ?? undefined
  return { channels, lastEventId }
}

export function isAnswer<T extends object>(result: T | Answer): result is Answer {
  return (result as Partial<Answer>).status !== undefined
}
