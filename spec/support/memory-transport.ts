import { createParser } from 'eventsource-parser'
import { ReplaySubject, type Observable } from 'rxjs'
import { utf8Length } from '../../lib/sse/framing.js'
import type { SseTransport, TransportEvents, TransportFactory } from '../../lib/sse/transport.js'

/**
 * The transport port of a stream session in memory, for marble specs: it holds what is written (counted in
 * bytes) up to `capacity`, past which `write()` says to wait, until the spec calls `drain()` (the client took
 * everything) or `close()` (the client went away). `frames$` shows each write as the frames an SSE parser
 * reads from it, in the virtual frame it was written (replayed, so a spec may subscribe after the stream started); `end()` completes it, `destroy()` errors it.
 */
export class MemoryTransport {
  readonly frames$: Observable<string>
  private readonly frames = new ReplaySubject<string>()
  private events: TransportEvents | undefined
  private held = 0
  ended: 'end' | 'destroy' | undefined

  constructor(private readonly capacity = Infinity) {
    this.frames$ = this.frames.asObservable()
  }

  readonly factory: TransportFactory = (events) => {
    this.events = events
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the transport object reads the spec's count
    const self = this
    return {
      write: (text) => {
        this.held += utf8Length(text)
        for (const frame of describeFrames(text)) this.frames.next(frame)
        return this.held < this.capacity
      },
      get bufferedBytes() {
        return self.held
      },
      end: () => {
        this.ended = 'end'
        this.frames.complete()
      },
      destroy: () => {
        this.ended = 'destroy'
        this.frames.error(new Error('destroyed'))
      },
    } satisfies SseTransport
  }

  /** The client read everything. */
  drain(): void {
    this.held = 0
    this.events?.drained()
  }

  /** The client went away. */
  close(): void {
    this.events?.closed()
    this.frames.complete()
  }
}

/**
 * A short name per frame, for diagrams: `retry:1000`, `heartbeat`, and `name:data@id` for events (the id
 * when there is one, `@` alone for an empty one).
 */
export function describeFrames(text: string): string[] {
  const frames: string[] = []
  let retryField: string | undefined
  createParser({
    onEvent: (event) => void frames.push(`${event.event}:${event.data}${event.id === undefined ? '' : `@${event.id}`}`),
    onComment: () => void frames.push('heartbeat'),
    onRetry: (retry) => void (retryField = `retry:${retry}`),
  }).feed(text)
  return retryField === undefined ? frames : [retryField, ...frames]
}
