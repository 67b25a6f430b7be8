import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { SchedulerLike, Subscription } from 'rxjs'
import { backoffDelay, type BackoffOptions } from '../backoff.js'
import { SilenceTimer } from '../operators/silence-timer.js'
import { SseConnectionLostError, SseRequestFailedError, type SseRequestFailedReason } from './errors.js'
import { CONTROL_PREFIX, END_EVENT, READY_EVENT, type EndData } from './protocol.js'
import type { EventStreamState, HeadersSource } from './types.js'

export interface ConnectionOptions {
  readonly url: URL
  readonly headers: HeadersSource | undefined
  readonly backoff: BackoffOptions
  readonly silenceTimeout: number | false
  readonly credentials: 'omit' | 'same-origin' | 'include'
  readonly scheduler: SchedulerLike
  readonly fetch: typeof fetch
}

export interface ConnectionEvents {
  /** Every event but the end event, with the stream's position after it. */
  event(message: EventSourceMessage, position: string | undefined): void
  state(state: EventStreamState): void
  /** A refusal retrying cannot fix: the connection stopped. */
  failed(error: SseRequestFailedError): void
}

/** Server ends after which the client comes back at once (the stream resumes; a fresh credential is fetched). */
const AT_ONCE: ReadonlySet<string> = new Set(['lifetime', 'credential-expired', 'revoked'])

/**
 * One stream's connection loop: `fetch` with the headers and the last position, the body through
 * eventsource-parser, and on any loss a reconnection with back-off that resumes from the last id received.
 *
 * The back-off counts attempts since the last connection that delivered a channel's event or a heartbeat, so
 * a server that accepts and drops at once is not hammered (only a working connection starts the count again:
 * rxpg's own ready, reset and end events do not count, since an endpoint whose source cannot open writes them
 * and ends at once), while one the server
 * ends on purpose (lifetime, expired credential) is replaced at once, and on shutdown after the delay the
 * server gave. A stream that stays silent past `silenceTimeout` (a buffering proxy, a dead peer) is
 * replaced too.
 */
export class EventStreamConnection {
  private stopped = false
  private abort: AbortController | undefined
  private retry: Subscription | undefined
  private attempt = 1

  constructor(
    private readonly options: ConnectionOptions,
    private position: string | undefined,
    private readonly events: ConnectionEvents,
  ) {}

  get lastEventId(): string | undefined {
    return this.position
  }

  start(): void {
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    this.abort?.abort()
    this.retry?.unsubscribe()
  }

  private async connect(): Promise<void> {
    const { options } = this
    this.events.state({ status: 'connecting', attempt: this.attempt })
    const abort = new AbortController()
    this.abort = abort
    let received = false
    let end: EndData | undefined
    let silence: SilenceTimer | undefined
    let silent = false
    try {
      const given = typeof options.headers === 'function' ? await options.headers() : options.headers
      const headers: Record<string, string> = { ...given, accept: 'text/event-stream' }
      if (this.position !== undefined) headers['last-event-id'] = this.position
      if (this.stopped) return
      // The watch starts with the request: a server that never answers is as silent as a stream that stops.
      if (options.silenceTimeout !== false) {
        silence = new SilenceTimer(options.scheduler, options.silenceTimeout, () => {
          silent = true
          abort.abort()
        })
      }
      const response = await options.fetch(options.url, { headers, signal: abort.signal, credentials: options.credentials })
      if (this.stopped) return
      const refusal = await refusalOf(response, options.url)
      if (refusal !== undefined) {
        if (refusal instanceof SseRequestFailedError) return this.fail(refusal)
        return this.reconnect(false, refusal)
      }
      silence?.touch()
      // Open once the server said where the stream starts (rxpg-ready), not at the headers: only from then on
      // does what is committed reach this client (a source starting at 'now' may still be finding where 'now' is).
      let opened = false
      const open = () => {
        if (opened) return
        opened = true
        this.events.state({ status: 'open' })
      }
      const parser = createParser({
        onEvent: (message) => {
          const control = message.event !== undefined && message.event.startsWith(CONTROL_PREFIX)
          if (message.event === READY_EVENT || !control) open()
          if (!control) received = true
          if (message.id !== undefined) this.position = message.id === '' ? undefined : message.id
          if (message.event === END_EVENT) end = parseEnd(message.data)
          else this.events.event(message, this.position)
        },
        // A heartbeat: the stream works, however quiet its channels are.
        onComment: () => {
          received = true
        },
      })
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      for (;;) {
        const { done, value } = await reader.read()
        if (done || this.stopped) break
        silence?.touch()
        parser.feed(decoder.decode(value, { stream: true }))
        if (this.stopped) break
      }
      if (this.stopped) return
      const detail = end === undefined ? 'the server closed the stream' : `the server ended the stream (${end.reason})`
      this.reconnect(received, new SseConnectionLostError({ reason: 'ended', detail, ...(end ? { end: end.reason } : {}) }), end)
    } catch (error) {
      if (this.stopped) return
      const cause = silent
        ? new SseConnectionLostError({ reason: 'silence', detail: `nothing arrived for ${options.silenceTimeout} ms` })
        : new SseConnectionLostError({ reason: 'network', detail: messageOf(error), ...systemCodeOf(error) }, { cause: error })
      this.reconnect(received, cause)
    } finally {
      silence?.stop()
    }
  }

  private reconnect(received: boolean, cause: SseConnectionLostError, end?: EndData): void {
    if (this.stopped) return
    if (received) this.attempt = 1
    let delay: number
    if (end !== undefined && AT_ONCE.has(end.reason)) {
      this.attempt = 1
      delay = 0
    } else if (end?.reason === 'shutdown' && end.retry !== undefined) delay = end.retry
    else delay = backoffDelay(this.attempt, this.options.backoff)
    this.events.state({ status: 'reconnecting', attempt: this.attempt, delay, cause })
    this.attempt += 1
    this.retry = this.options.scheduler.schedule(() => void this.connect(), delay)
  }

  private fail(error: SseRequestFailedError): void {
    this.stopped = true
    this.events.failed(error)
  }
}

/** A refusal (to fail with), a server error (to retry), or undefined for an event stream. */
async function refusalOf(response: Response, url: URL): Promise<SseRequestFailedError | SseConnectionLostError | undefined> {
  const status = response.status
  if (response.ok) {
    const type = response.headers.get('content-type') ?? ''
    if (type.toLowerCase().startsWith('text/event-stream')) return undefined
    await response.body?.cancel().catch(() => undefined)
    return new SseRequestFailedError({ reason: 'not-event-stream', status, detail: `the response is ${type || 'of no content type'}, not text/event-stream`, url: url.href })
  }
  const detail = (await response.text().catch(() => '')).slice(0, 200) || response.statusText
  if (status === 408 || status === 425 || status === 429 || status >= 500) return new SseConnectionLostError({ reason: 'server-error', status, detail })
  const reason: SseRequestFailedReason = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not-found' : 'status'
  return new SseRequestFailedError({ reason, status, detail, url: url.href })
}

function parseEnd(data: string): EndData | undefined {
  try {
    const parsed = JSON.parse(data) as Partial<EndData>
    return typeof parsed.reason === 'string' ? (parsed as EndData) : undefined
  } catch {
    return undefined
  }
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = (error as { cause?: unknown }).cause
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message
}

function systemCodeOf(error: unknown): { systemCode?: string | undefined } {
  const cause = error instanceof Error ? (error as { cause?: unknown }).cause : undefined
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? { systemCode: code } : {}
}
