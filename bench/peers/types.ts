import type { BenchPayload } from '../support/payload.js'

/** The libraries compared, plus variants used by single scenarios. */
export const RECEIVER_PEERS = ['pg', 'pg-listen', 'postgres', 'rxpg'] as const
export type ReceiverPeer = (typeof RECEIVER_PEERS)[number] | 'rxpg-each' | 'pg-reconnect' | 'pg-listen-no-timeout'

export const PEER_LABELS: Record<string, string> = {
  pg: 'pg',
  'pg-listen': 'pg-listen',
  postgres: 'postgres.js',
  rxpg: 'rxpg',
  'rxpg-each': 'rxpg (decode per subscriber)',
  'pg-reconnect': 'pg + hand-written reconnect (1 s retry)',
  'pg-listen-no-timeout': 'pg-listen (retryTimeout: 0)',
}

export interface ReceiveOptions {
  readonly url: string
  readonly channels: readonly string[]
  /** Subscribers (handlers) per channel. */
  readonly subscribers: number
  /** Every decoded notification, once per subscriber. */
  readonly onValue: (value: BenchPayload) => void
  /** Errors and connection events the library reports (kept for the report, never thrown). */
  readonly onEvent: (event: string) => void
}

/** A library listening the way its README shows. Resolved once every LISTEN is in effect. */
export interface ReceiverHandle {
  /** Listens to more channels (same subscribers per channel); resolves once they are in effect. */
  add(channels: readonly string[]): Promise<void>
  close(): Promise<void>
}

export type ReceiverFactory = (options: ReceiveOptions) => Promise<ReceiverHandle>

/** A library sending the way its README shows. */
export interface SenderHandle {
  /** Sends every payload on `channel` and resolves once all are committed. */
  sendAll(channel: string, payloads: readonly BenchPayload[]): Promise<void>
  close(): Promise<void>
}

export type SenderFactory = (url: string) => Promise<SenderHandle>

/** Splits `items` into chunks of `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = []
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size))
  return result
}
