/**
 * A first-in first-out queue on a ring buffer: O(1) at both ends, so a queue of 100,000 notifications costs
 * the same per send as one of ten (an array's `shift`/`unshift` move every element).
 */
export class Deque<T> {
  private items: Array<T | undefined> = new Array<T | undefined>(16)
  private head = 0
  private count = 0

  get length(): number {
    return this.count
  }

  /** The `index`-th item from the front. */
  at(index: number): T | undefined {
    return index < this.count ? this.items[(this.head + index) & (this.items.length - 1)] : undefined
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow()
    this.items[(this.head + this.count) & (this.items.length - 1)] = item
    this.count += 1
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) & (this.items.length - 1)
    this.count -= 1
    return item
  }

  /** Puts `items` back at the front, in their order (a batch that could not be sent). */
  unshiftAll(items: readonly T[]): void {
    while (this.count + items.length > this.items.length) this.grow()
    for (let index = items.length - 1; index >= 0; index--) {
      this.head = (this.head - 1) & (this.items.length - 1)
      this.items[this.head] = items[index]
      this.count += 1
    }
  }

  /** Removes and returns every item, front first. */
  drain(): T[] {
    const all: T[] = []
    while (this.count > 0) all.push(this.shift() as T)
    return all
  }

  /** Doubles the capacity (always a power of two, so `& (length - 1)` wraps an index). */
  private grow(): void {
    const bigger = new Array<T | undefined>(this.items.length * 2)
    for (let index = 0; index < this.count; index++) bigger[index] = this.items[(this.head + index) & (this.items.length - 1)]
    this.items = bigger
    this.head = 0
  }
}
