import type { Observer, Subscriber } from 'rxjs'

/**
 * A source's live values on their way to `subscriber`: passed on, or held while something must come before
 * them (a catch-up, a snapshot) and released in order afterwards. A completion while holding waits for the
 * release; an error goes through at once.
 */
export class HeldLiveValues<T> implements Observer<T> {
  private held: T[] | undefined
  private sourceDone = false

  constructor(
    private readonly subscriber: Subscriber<unknown>,
    holding: boolean,
  ) {
    this.held = holding ? [] : undefined
  }

  /** Starts holding (if not already). */
  hold(): void {
    this.held ??= []
  }

  /** Emits what was held, in order, and stops holding; completes if the source has. */
  release(): void {
    const values = this.held ?? []
    this.held = undefined
    for (const value of values) this.subscriber.next(value)
    if (this.sourceDone) this.subscriber.complete()
  }

  readonly next = (value: T): void => {
    if (this.held) this.held.push(value)
    else this.subscriber.next(value)
  }

  readonly error = (error: unknown): void => this.subscriber.error(error)

  readonly complete = (): void => {
    this.sourceDone = true
    if (!this.held) this.subscriber.complete()
  }
}
