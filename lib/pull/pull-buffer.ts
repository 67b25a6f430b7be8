import type { Observable, Subscription } from 'rxjs'
import { BoundedBuffer, type BoundedBufferOptions } from '../operators/bounded-buffer.js'

/** Why the source stopped giving values. `closed`: the consumer ended it. */
export type PullEnd = { readonly kind: 'complete' } | { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'closed' }

/**
 * @internal The subscription and bounded buffer behind `toAsyncIterable` and `createPuller`. Values wait in
 * the buffer until taken; the end (completion, error, buffer overflow) is kept until the values that came
 * before it have been taken, so nothing that arrived is lost to the end. Closing unsubscribes at once, which
 * for a channel means UNLISTEN when it was the last subscriber.
 */
export class PullBuffer<T> {
  private readonly buffer: BoundedBuffer<T>
  private subscription: Subscription | undefined
  private ended: PullEnd | undefined

  constructor(
    consumer: string,
    options: BoundedBufferOptions<T>,
    private readonly hooks: {
      /** Offered each value while nothing is buffered; returns true when it took the value itself. */
      readonly takeDirectly?: ((value: T) => boolean) | undefined
      /** The source ended (or overflowed) */
      readonly ended?: (() => void) | undefined
    } = {},
  ) {
    this.buffer = new BoundedBuffer(consumer, options)
  }

  /** Subscribes to `source` (once). */
  start(source: Observable<T>): void {
    const subscription = source.subscribe({
      next: (value) => this.offer(value),
      error: (error: unknown) => this.end({ kind: 'error', error }),
      complete: () => this.end({ kind: 'complete' }),
    })
    // An end during subscribe (a synchronous source that overflowed) could not unsubscribe yet.
    if (this.ended === undefined) this.subscription = subscription
    else subscription.unsubscribe()
  }

  get length(): number {
    return this.buffer.length
  }

  get dropped(): number {
    return this.buffer.dropped
  }

  /** The end, once every value before it has been taken; undefined while values are waiting or may come. */
  get endReached(): PullEnd | undefined {
    return this.buffer.length === 0 ? this.ended : undefined
  }

  /** Takes the oldest waiting value; only call it when `length > 0`. */
  shift(): T {
    return this.buffer.shift()
  }

  /** After the consumer has seen an error end, later pulls only see "done". */
  errorSeen(): void {
    this.ended = { kind: 'closed' }
  }

  /** Unsubscribes and releases every waiting value. Idempotent. */
  close(): void {
    this.buffer.clear()
    if (this.ended === undefined || this.ended.kind !== 'closed') this.ended = { kind: 'closed' }
    this.subscription?.unsubscribe()
    this.subscription = undefined
  }

  private offer(value: T): void {
    if (this.ended !== undefined) return
    if (this.buffer.length === 0 && this.hooks.takeDirectly?.(value)) return
    let overflow
    try {
      overflow = this.buffer.push(value)
    } catch (error) {
      // onDrop threw: the consumer's callback failed, so the pull ends with its error.
      this.end({ kind: 'error', error })
      return
    }
    if (overflow) this.end({ kind: 'error', error: overflow })
  }

  private end(end: PullEnd): void {
    if (this.ended !== undefined) return
    this.ended = end
    this.subscription?.unsubscribe()
    this.subscription = undefined
    this.hooks.ended?.()
  }
}
