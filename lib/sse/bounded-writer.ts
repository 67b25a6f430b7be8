import type { SseTransport } from './transport.js'

/**
 * Writes frames to a transport the way back-pressure asks: while `write()` returns false nothing more is
 * handed to it; frames wait here, counted in bytes, and go out as one write when the transport drains. The
 * session reads `heldBytes` after each frame to decide when to pause its sources or cut the client off, so
 * what one client holds stays bounded.
 */
export class BoundedWriter {
  private queue: string[] = []
  private queuedBytes = 0
  private waiting = false
  /** The most bytes held at once (queue and transport), for the endpoint's figures. */
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

  write(text: string, bytes: number): void {
    if (this.waiting) {
      this.queue.push(text)
      this.queuedBytes += bytes
    } else if (!this.transport.write(text)) {
      this.waiting = true
      this.onBlocked()
    }
    const held = this.heldBytes
    if (held > this.maxHeldBytes) this.maxHeldBytes = held
  }

  /** The transport drained: what waited goes out in one write. True when nothing waits any more. */
  drained(): boolean {
    if (!this.waiting) return true
    this.waiting = false
    if (this.queue.length === 0) return true
    const text = this.queue.length === 1 ? this.queue[0]! : this.queue.join('')
    this.queue = []
    this.queuedBytes = 0
    if (!this.transport.write(text)) {
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
