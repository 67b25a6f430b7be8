/**
 * Latencies counted in 0.1 ms buckets up to 10 s (one array per process, merged by adding): 10,000 clients
 * times thousands of events are too many samples to keep one by one.
 */
const BUCKETS = 100_001

export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS)

  record(milliseconds: number): void {
    const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.round(milliseconds * 10)))
    this.counts[bucket]! += 1
  }

  /** The non-empty buckets, to send over IPC. */
  entries(): Array<[number, number]> {
    const entries: Array<[number, number]> = []
    for (let bucket = 0; bucket < BUCKETS; bucket++) if (this.counts[bucket]! > 0) entries.push([bucket, this.counts[bucket]!])
    return entries
  }

  add(entries: ReadonlyArray<readonly [number, number]>): void {
    for (const [bucket, count] of entries) this.counts[bucket]! += count
  }

  clear(): void {
    this.counts.fill(0)
  }

  get total(): number {
    let total = 0
    for (const count of this.counts) total += count
    return total
  }

  /** The latency (ms) below which a share `q` of the samples lies. */
  quantile(q: number): number {
    const target = Math.max(1, Math.ceil(this.total * q))
    let seen = 0
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket]!
      if (seen >= target) return bucket / 10
    }
    return Number.NaN
  }
}
