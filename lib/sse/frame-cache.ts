import { eventFrame, utf8Length } from './framing.js'
import type { SourceEvent, SseSource } from './source.js'

/** What a transport writes: text, or text already encoded as UTF-8 (shared by every stream that writes it). */
export type Chunk = string | Uint8Array

/** An event's frame: its bytes, once encoded, and their number. */
export interface Frame {
  readonly chunk: Uint8Array
  readonly bytes: number
}

/** What a stream writes for one event: its chunks, and the bytes they take. */
export interface Written {
  readonly chunks: readonly Chunk[]
  readonly bytes: number
}

interface Cached {
  /** The frame without its `id:` line. */
  readonly body: Frame
  /** The whole frame for the last id it was written with (a stream of one channel writes the event's own token). */
  full: { readonly id: string; readonly written: Written } | undefined
}

const encoder = new TextEncoder()

function frameOf(text: string): Frame {
  const chunk = encoder.encode(text)
  return { chunk, bytes: chunk.byteLength }
}

/**
 * Frames and encodes each event once per channel, however many streams write it: a durable channel's event is
 * one object handed to every client, a notification one object handed to every subscriber, so the frame is
 * cached on it (weakly: it goes when the event does) and every stream writes the same bytes. A stream of one
 * channel writes the event's token as its id, so even the whole frame is shared; with several channels only
 * the `id:` line is the stream's own.
 */
export class FrameCache<T> {
  private readonly cache = new WeakMap<object, Cached>()

  constructor(
    private readonly name: string,
    private readonly source: SseSource<T>,
  ) {}

  /** The frame of `item` with `id`, as one chunk when it is shared, or as the stream's own id line and the shared rest. */
  frame(item: SourceEvent<T>, id: string): Written {
    const cached = this.cached(item)
    if (id === item.token) {
      if (cached.full?.id !== id) {
        const { chunk, bytes } = frameOf(`id: ${id}\n${this.text(item)}`)
        cached.full = { id, written: { chunks: [chunk], bytes } }
      }
      return cached.full.written
    }
    const line = `id: ${id}\n`
    return { chunks: [line, cached.body.chunk], bytes: utf8Length(line) + cached.body.bytes }
  }

  private cached(item: SourceEvent<T>): Cached {
    const value = item.value as unknown
    const key = typeof value === 'object' && value !== null ? value : item
    let cached = this.cache.get(key)
    if (cached === undefined) {
      cached = { body: frameOf(this.text(item)), full: undefined }
      this.cache.set(key, cached)
    }
    return cached
  }

  private text(item: SourceEvent<T>): string {
    return eventFrame(this.name, this.source.data(item.value))
  }
}
