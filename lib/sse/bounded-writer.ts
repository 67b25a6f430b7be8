import type { Chunk } from './frame-cache.js'
import type { SseTransport } from './transport.js'

/**
 * Writes frames to a transport the way back-pressure asks: while `write()` returns false nothing more is
 * handed to it; frames wait here, counted in bytes, and go out together when the transport drains. The
 * session reads `heldBytes` after each frame to decide when to pause its sources or cut the client off, so
 * what one client holds stays bounded.
 */
export class BoundedWriter {
  private queue: Chunk[] = []
  private queuedBytes = 0
  private waiting = false
  /** The most bytes held at once (queue and transport) once the transport asked to wait, for the endpoint's figures. */
  maxHeldBytes = 0

  constructor(
    private readonly transport: SseTransport,
    private readonly onBlocked: () => void,
  ) {}

  /** True while the transport asked to wait. */
  get blocked(): boolean {
    return this.waiting
  }

  get heldBytes(): number {
    return this.queuedBytes + this.transport.bufferedBytes
  }

  /** Writes `chunk`, counting `bytes` for it (a frame in several chunks counts all its bytes on the first). */
  write(chunk: Chunk, bytes: number): void {
    if (this.waiting) {
      this.queue.push(chunk)
      this.queuedBytes += bytes
    } else if (this.transport.write(chunk)) {
      // Accepted: the transport holds less than its own small high-water mark; nothing to count (the hot path).
      return
    } else {
      this.waiting = true
      this.onBlocked()
    }
    const held = this.heldBytes
    if (held > this.maxHeldBytes) this.maxHeldBytes = held
  }

  /** The transport drained: what waited goes out (in one packet: the transport corks writes of one turn). True when nothing waits any more. */
  drained(): boolean {
    if (!this.waiting) return true
    this.waiting = false
    if (this.queue.length === 0) return true
    const queue = this.queue
    this.queue = []
    this.queuedBytes = 0
    let accepted = true
    for (const chunk of queue) accepted = this.transport.write(chunk)
    if (!accepted) {
      this.waiting = true
      this.onBlocked()
      return false
    }
    return true
  }

  /** Releases what waits (the connection is gone). */
  clear(): void {
    this.queue = []
    this.queuedBytes = 0
  }
}
