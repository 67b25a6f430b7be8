import type { Observable } from 'rxjs'

/** A channel's first subscriber arrived (`wanted`), or its last one left. */
export interface DemandChange {
  readonly channel: string
  readonly wanted: boolean
}

/** Which channels have subscribers: what the listening connection keeps LISTENed. */
export interface ChannelDemand {
  /** The channels wanted right now. */
  channels(): Iterable<string>
  /** Whether `channel` is wanted right now. */
  wants(channel: string): boolean
  /** Each change, as it happens. */
  readonly changes$: Observable<DemandChange>
  /**
   * The server cannot listen to `channel` (its name, in the database's encoding), which retrying cannot fix: its
   * subscribers get `error`, and it is no longer wanted (a later subscription wants it again).
   */
  refuse(channel: string, error: unknown): void
}
