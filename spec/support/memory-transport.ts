import { createParser } from 'eventsource-parser'
import { ReplaySubject, type Observable } from 'rxjs'
import { utf8Length } from '../../lib/sse/framing.js'
import type { SseTransport, TransportEvents, TransportFactory } from '../../lib/sse/transport.js'

/**
 * The transport port of a stream session in memory, for marble specs: it holds what is written (counted in
 * bytes) up to `capacity`, past which `write()` says to wait, until the spec calls `drain()` (the client took
 * everything) or `close()` (the client went away). `frames$` shows what an SSE parser reads from the writes
 * (`retry:1000`, `heartbeat`, `name:data@id`), in the virtual frame it was written (replayed, so a spec may subscribe after the stream started); `end()` completes it, `destroy()` errors it.
 */
export class MemoryTransport {
  readonly frames$: Observable<string>
  private readonly frames = new ReplaySubject<string>()
  private events: TransportEvents | undefined
  private held = 0
  ended: 'end' | 'destroy' | undefined

  /** One parser for the whole stream: a frame may come in several writes (its id line, then its body). */
  private readonly parser = createParser({
    onEvent: (event) => this.frames.next(`${event.event}:${event.data}${event.id === undefined ? '' : `@${event.id}`}`),
    onComment: () => this.frames.next('heartbeat'),
    onRetry: (retry) => this.frames.next(`retry:${retry}`),
  })

  constructor(private readonly capacity = Infinity) {
    this.frames$ = this.frames.asObservable()
  }

  readonly factory: TransportFactory = (events) => {
    this.events = events
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the transport object reads the spec's count
    const self = this
    return {
      write: (chunk) => {
        const text = typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk)
        this.held += utf8Length(text)
        this.parser.feed(text)
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
