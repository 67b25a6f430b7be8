import { RxpgError } from '../errors.js'
import type { MetricsRecorder } from '../metrics.js'

/**
 * What a full buffer does with one more value:
 * - `'drop-oldest'`: evicts the oldest waiting value to make room (the consumer sees the most recent ones:
 *   right for "latest state" feeds such as prices, presence, dashboards);
 * - `'drop-newest'`: refuses the arriving value (the consumer finishes what was queued first: right when the
 *   oldest work matters most and newer work will come again);
 * - `'error'`: fails with `BufferOverflowError` (nothing may be lost silently: right for work that must be
 *   done, where falling behind is a fault to alert on).
 */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error'

/** The bound and policy shared by `consumeWith`, `toAsyncIterable` and `createPuller`. */
export interface BoundedBufferOptions<T> {
  /** The most values that may wait (a positive integer). Default 1000. */
  readonly size?: number | undefined
  /** What to do when one more arrives. Default `'error'`: nothing is lost without you choosing so. */
  readonly overflow?: OverflowPolicy | undefined
  /** Called with each value a drop policy discarded, and the running count for this subscription. */
  readonly onDrop?: ((value: T, dropped: number) => void) | undefined
  /** Counts each drop with `recordDropped()`; pass `db.metrics` to see drops in the listener's counters. */
  readonly metrics?: MetricsRecorder | undefined
}

export const DEFAULT_BUFFER_SIZE = 1000

/** A consumer fell `size` values behind and the overflow policy is `'error'`. */
export class BufferOverflowError extends RxpgError {
  override readonly name = 'BufferOverflowError'
  readonly code = 'BUFFER_OVERFLOW'
  constructor(
    readonly info: {
      /** The buffer's bound. */
      readonly size: number
      /** The channel of the value that did not fit, when it was a notification (absent otherwise). */
      readonly channel?: string | undefined
      /** Where the buffer was: 'consumeWith', 'toAsyncIterable' or 'createPuller'. */
      readonly consumer: string
    },
  ) {
    super(
      `${info.consumer}: the consumer fell ${info.size} values behind${info.channel === undefined ? '' : ` on channel ${JSON.stringify(info.channel)}`} ` +
        `and the overflow policy is 'error'. Consume faster, raise size, or choose 'drop-oldest' / 'drop-newest'.`,
    )
  }
}

/**
 * @internal A FIFO of at most `size` values with an overflow policy: a ring that grows (by doubling, up to
 * `size`) only as far as it is used, so a large bound costs nothing until a consumer actually falls behind.
 * No allocation per value.
 */
export class BoundedBuffer<T> {
  readonly size: number
  readonly overflow: OverflowPolicy
  /** Values a drop policy discarded so far. */
  dropped = 0
  private items: (T | undefined)[] = []
  private head = 0
  private count = 0

  constructor(
    private readonly consumer: string,
    private readonly options: BoundedBufferOptions<T>,
  ) {
    this.size = options.size ?? DEFAULT_BUFFER_SIZE
    this.overflow = options.overflow ?? 'error'
    if (!Number.isInteger(this.size) || this.size < 1) {
      throw new RangeError(`rxpg: ${consumer} needs a buffer size that is a positive integer; got ${String(options.size)}`)
    }
    if (this.overflow !== 'drop-oldest' && this.overflow !== 'drop-newest' && this.overflow !== 'error') {
      throw new RangeError(`rxpg: ${consumer} overflow must be 'drop-oldest', 'drop-newest' or 'error'; got ${String(options.overflow)}`)
    }
  }

  get length(): number {
    return this.count
  }

  /**
   * Adds `value` at the end. When full, applies the policy: returns a `BufferOverflowError` for `'error'`
   * (the value is not added), undefined otherwise.
   */
  push(value: T): BufferOverflowError | undefined {
    if (this.count < this.size) {
      if (this.count === this.items.length) this.grow()
      this.items[(this.head + this.count) % this.items.length] = value
      this.count += 1
      return undefined
    }
    switch (this.overflow) {
      case 'error': {
        const channel = channelOf(value)
        return new BufferOverflowError({ size: this.size, ...(channel === undefined ? {} : { channel }), consumer: this.consumer })
      }
      case 'drop-newest':
        this.drop(value)
        return undefined
      case 'drop-oldest': {
        // Full means items.length === size: overwrite the oldest in place and move the head past it.
        const oldest = this.items[this.head] as T
        this.items[this.head] = value
        this.head = (this.head + 1) % this.items.length
        this.drop(oldest)
        return undefined
      }
    }
  }

  /** Takes the oldest value; only call it when `length > 0`. */
  shift(): T {
    const value = this.items[this.head] as T
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.items.length
    this.count -= 1
    return value
  }

  /** Releases every value held. */
  clear(): void {
    this.items = []
    this.head = 0
    this.count = 0
  }

  private grow(): void {
    const capacity = Math.min(this.size, Math.max(8, this.items.length * 2))
    const items = new Array<T | undefined>(capacity)
    for (let i = 0; i < this.count; i += 1) items[i] = this.items[(this.head + i) % this.items.length]
    this.items = items
    this.head = 0
  }

  private drop(value: T): void {
    this.dropped += 1
    this.options.metrics?.recordDropped()
    this.options.onDrop?.(value, this.dropped)
  }
}

function channelOf(value: unknown): string | undefined {
  const channel = typeof value === 'object' && value !== null ? (value as { channel?: unknown }).channel : undefined
  return typeof channel === 'string' ? channel : undefined
}
