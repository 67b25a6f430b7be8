/** Pure statistics helpers for the benchmark harness (unit-tested in spec/bench-stats.spec.ts). */

/** The median of several runs with its spread. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  /** First and third quartiles (linear interpolation, as `quantile`). */
  readonly q1: number
  readonly q3: number
  readonly n: number
  /** Every run's figure, in the order measured. */
  readonly values: readonly number[]
}

/** The q-quantile (0 ≤ q ≤ 1) of `values` by linear interpolation between closest ranks; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return quantileSorted(sorted, q)
}

/** `quantile` for values already sorted ascending (no copy: for large latency arrays). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  if (q <= 0) return sorted[0] as number
  if (q >= 1) return sorted[n - 1] as number
  const position = (n - 1) * q
  const lower = Math.floor(position)
  const fraction = position - lower
  const low = sorted[lower] as number
  const high = sorted[Math.min(lower + 1, n - 1)] as number
  return low + (high - low) * fraction
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5)
}

/** Median, min, max and quartiles of the finite values (NaN and ±Infinity are left out). */
export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((value) => Number.isFinite(value))
  const sorted = [...finite].sort((a, b) => a - b)
  return {
    median: quantileSorted(sorted, 0.5),
    min: sorted.length ? (sorted[0] as number) : Number.NaN,
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    q1: quantileSorted(sorted, 0.25),
    q3: quantileSorted(sorted, 0.75),
    n: sorted.length,
    values: finite,
  }
}

/** Percentiles of one latency sample (e.g. one run), in the sample's unit. */
export interface LatencyPercentiles {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly count: number
}

export function latencyPercentiles(samples: ArrayLike<number>): LatencyPercentiles {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort()
  return { p50: quantileSorted(sorted, 0.5), p99: quantileSorted(sorted, 0.99), max: quantileSorted(sorted, 1), count: sorted.length }
}

/** What a receiver got of a stream of `sent` notifications numbered `firstSeq` … `firstSeq + sent − 1`. */
export interface StreamTally {
  readonly sent: number
  /** Distinct notifications of the stream delivered at least once. */
  readonly received: number
  readonly lost: number
  /** Deliveries beyond the first of the same notification. */
  readonly duplicates: number
  /** Deliveries whose seq is not part of the stream (should be 0). */
  readonly foreign: number
}

/** Counts loss and duplicates from the seqs a receiver delivered, in any order. */
export function tallyStream(seqs: ArrayLike<number>, firstSeq: number, sent: number): StreamTally {
  const seen = new Uint8Array(Math.max(0, sent))
  let received = 0
  let duplicates = 0
  let foreign = 0
  for (let index = 0; index < seqs.length; index++) {
    const offset = (seqs[index] as number) - firstSeq
    if (!Number.isInteger(offset) || offset < 0 || offset >= sent) foreign += 1
    else if (seen[offset] === 1) duplicates += 1
    else {
      seen[offset] = 1
      received += 1
    }
  }
  return { sent, received, lost: sent - received, duplicates, foreign }
}

/** One kill of a receiver's listening backend, on the clock every bench process shares (ns). */
export interface KillInstant {
  /** Right before pg_terminate_backend was sent. */
  readonly killNs: number
  /** When it returned: a notification sent from then on can only arrive through a new connection. */
  readonly terminatedNs: number
}

/** What a receiver delivered across one kill; NaN when nothing sent after the kill arrived. */
export interface AcrossKill {
  /** Kill → the subscriber's first notification among those sent after pg_terminate_backend returned, ms. */
  readonly firstDeliveryMs: number
  /** Kill → when that notification was sent, ms. Long with `lost` at 0: the sender paused, not the receiver. */
  readonly firstSentMs: number
  /** Notifications between the last delivery before that one and that one (by seq) that never arrived. */
  readonly lost: number
}

/** A receiver's record: one entry per delivery, in delivery order. */
export interface DeliveryRecord {
  readonly seqs: ArrayLike<number>
  /** When each was sent (the payload's time), ns. */
  readonly sentNs: ArrayLike<number>
  /** When each reached the subscriber, ns. */
  readonly emitNs: ArrayLike<number>
}

/** For each kill, the first delivery of a notification sent after it, and the gap in the stream before it. */
export function acrossKills(kills: readonly KillInstant[], record: DeliveryRecord): AcrossKill[] {
  return kills.map(({ killNs, terminatedNs }) => {
    for (let index = 0; index < record.sentNs.length; index++) {
      if ((record.sentNs[index] as number) < terminatedNs) continue
      const seq = record.seqs[index] as number
      const before = index > 0 ? (record.seqs[index - 1] as number) : seq - 1
      return {
        firstDeliveryMs: ((record.emitNs[index] as number) - killNs) / 1e6,
        firstSentMs: ((record.sentNs[index] as number) - killNs) / 1e6,
        lost: Math.max(0, seq - before - 1),
      }
    }
    return { firstDeliveryMs: Number.NaN, firstSentMs: Number.NaN, lost: Number.NaN }
  })
}

/** The ratio of two medians; NaN when either is missing or the reference is 0. */
export function ratio(value: number, reference: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(reference) || reference === 0) return Number.NaN
  return value / reference
}

/** A figure for a table: 3 significant digits, thousands grouped, '–' for NaN. */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '–'
  const magnitude = Math.abs(value)
  if (magnitude >= 10 ** digits) return Math.round(value).toLocaleString('en-US')
  if (magnitude === 0) return '0'
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(magnitude)))
  return value.toFixed(Math.min(decimals, 6))
}

/** "median (min–max)". */
export function formatSummary(summary: Summary, digits = 3): string {
  if (summary.n === 0) return '–'
  if (summary.n === 1) return formatNumber(summary.median, digits)
  return `${formatNumber(summary.median, digits)} (${formatNumber(summary.min, digits)}–${formatNumber(summary.max, digits)})`
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–'
}
