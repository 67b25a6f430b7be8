/**
 * The ways to watch a table compared by the replication scenario, each used the way its README shows:
 * rxpg's change stream, pg-logical-replication (pgoutput), postgres.js `subscribe`, and a trigger that NOTIFYs
 * each row to an rxpg listener.
 */
export const FEEDS = ['rxpg', 'pg-logical-replication', 'postgres', 'notify'] as const
export type Feed = (typeof FEEDS)[number]

export const FEED_LABELS: Record<Feed, string> = {
  rxpg: 'rxpg changeStream',
  'pg-logical-replication': 'pg-logical-replication (acks each 1 s)',
  postgres: 'postgres.js subscribe',
  notify: 'trigger + NOTIFY (rxpg listener)',
}

/** The watched table, its publication and the NOTIFY channel of the trigger feed. */
export const FEED_TABLE = 'bench_feed'
export const FEED_PUBLICATION = 'bench_feed_pub'
export const FEED_CHANNEL = 'bench_feed'

export interface FeedOptions {
  readonly url: string
  /** The slot to read (rxpg, pg-logical-replication: created by the harness; postgres.js makes a temporary one). */
  readonly slot: string
  /** Called for every inserted row, in order: its id, the send time it carries (ns), and its position where the feed has one. */
  readonly onRow: (id: number, sentNs: number, position: string | undefined) => void | Promise<void>
  /** True: `onRow` is an effect to wait for before the next row (and before acknowledging). */
  readonly sequential: boolean
  /** rxpg: resume after this position. */
  readonly resumeAfter?: string
  readonly onEvent: (event: string) => void
}

export interface FeedHandle {
  /** Resolves once the feed is connected and streaming. */
  readonly ready: Promise<void>
  /** The library's own counters, where it has them. */
  readonly metrics?: () => unknown
  close(): Promise<void>
}

export type FeedFactory = (options: FeedOptions) => FeedHandle

/** A row of the watched table as the feeds hand it over (bigints come as text). */
export interface FeedRow {
  readonly id: number
  readonly t: string | number
}
