/**
 * The benchmark's notification: ~110 bytes of JSON, distinct per message (PostgreSQL folds identical
 * payloads on one channel within one transaction, so every payload carries its sequence number).
 */
export interface BenchPayload {
  /** Sequence number: unique within a run; the latency and recovery scenarios join on it. */
  readonly seq: number
  /** `process.hrtime` in ns (CLOCK_MONOTONIC, shared by every process on the machine) when it was sent; 0 when not timed. */
  readonly t: number
  readonly kind: string
  readonly id: string
  readonly amount: number
  readonly tags: readonly string[]
}

/** Builds the payload text directly (cheaper than JSON.stringify: the sender must not be the bottleneck). */
export function payloadText(seq: number, t = 0): string {
  return `{"seq":${seq},"t":${t},"kind":"order.created","id":"ord_${(seq * 2654435761 >>> 0).toString(16).padStart(8, '0')}","amount":${(seq % 100000) / 100},"tags":["bench","rxpg"]}`
}

/** The same payload as an object, for libraries whose `notify` serializes it themselves (pg-listen). */
export function payloadValue(seq: number, t = 0): BenchPayload {
  return JSON.parse(payloadText(seq, t)) as BenchPayload
}

/** `process.hrtime.bigint()` as a number of ns (exact below 2^53 ns, i.e. ~104 days of uptime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint())
}

/** Channel names of a fan-out: `prefix0`, `prefix1`, ... */
export interface ChannelSet {
  readonly prefix: string
  readonly count: number
}

export function channelNames(set: ChannelSet): string[] {
  return Array.from({ length: set.count }, (_, index) => set.prefix + index)
}
