import { eventFrame, utf8Length } from './framing.js'
import type { SourceEvent, SseSource } from './source.js'

/** The text of an event without its id, and its size in bytes. */
export interface FrameBody {
  readonly text: string
  readonly bytes: number
}

/**
 * Frames each event once per channel, however many streams write it: a durable channel's event is one object
 * handed to every client, a notification one object handed to every subscriber, so the frame is cached on it
 * (weakly: it goes when the event does). Only the `id:` line differs between clients.
 */
export class FrameCache<T> {
  private readonly bodies = new WeakMap<object, FrameBody>()

  constructor(
    private readonly name: string,
    private readonly source: SseSource<T>,
  ) {}

  body(item: SourceEvent<T>): FrameBody {
    const value = item.value as unknown
    const key = typeof value === 'object' && value !== null ? value : item
    let body = this.bodies.get(key)
    if (body === undefined) {
      const text = eventFrame(this.name, this.source.data(item.value))
      body = { text, bytes: utf8Length(text) }
      this.bodies.set(key, body)
    }
    return body
  }
}
