/**
 * Table size over a long run with retention: values appended as fast as append$ takes them, short time
 * partitions and a short maximum age, maintenance every second, a consumer group working alongside (so the
 * cursor table is updated all along). The log's and the cursor table's sizes are sampled every 2 s; after a
 * warm-up (the first retention window filling), they must stay flat.
 */
import { summarize } from '../support/stats.js'
import { payload, query, rxpgLog, sleep, type DurableBenchContext, type DurableSection } from './context.js'

export async function tableSizeScenario(context: DurableBenchContext): Promise<DurableSection> {
  const total = context.quick ? 400_000 : 10_000_000
  // One-second partitions and a retention window of many of them, so that dropping one moves the size by a few percent.
  const spanMs = 1_000
  const maxAgeMs = context.quick ? 5_000 : 20_000
  /** A steady append rate, so that the size measures retention rather than the machine's mood. */
  const ratePerSecond = context.quick ? 20_000 : 25_000
  /** The producer waits while the consumer group is further behind than this (it must not fall past the retention). */
  const maxLag = 50_000
  const setup = await rxpgLog(context, { retention: { partitionSpan: spanMs, maxAge: maxAgeMs, premake: 3 }, maintenanceInterval: 1000 }, 12)
  const samples: Array<{ at: number; appended: number; logBytes: number; cursorBytes: number; partitions: number }> = []
  let appended = 0
  let sampling = true
  const start = performance.now()
  const sizes = async () => {
    const [row] = await query<{ log: string; cursors: string; partitions: number }>(
      context.url,
      `SELECT (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = '"${setup.schema}".durable_log'::regclass)::text AS log,
              pg_total_relation_size('"${setup.schema}".durable_cursors')::text AS cursors,
              (SELECT count(*)::int FROM pg_inherits WHERE inhparent = '"${setup.schema}".durable_log'::regclass) AS partitions`,
    )
    samples.push({ at: performance.now() - start, appended, logBytes: Number(row?.log), cursorBytes: Number(row?.cursors), partitions: row?.partitions ?? 0 })
  }
  const sampler = (async () => {
    while (sampling) {
      await sizes().catch(() => undefined)
      await sleep(2_000)
    }
  })()
  let consumed = 0
  const consumer = setup.log.consume('bench', 'size', (messages) => void (consumed += messages.length), { batchSize: 1000 })
  const consumerFailed = consumer.done.catch(() => (consumed = Number.POSITIVE_INFINITY)) // a failed group no longer holds the producer back
  void consumerFailed
  const consumerFailure = consumer.done.then(
    () => undefined,
    (error: unknown) => String(error),
  )
  try {
    while (appended < total) {
      while (appended - consumed > maxLag && performance.now() - start < 30 * 60_000) await sleep(5)
      const due = start + (appended / ratePerSecond) * 1000
      if (due > performance.now()) await sleep(due - performance.now())
      const chunk = Math.min(10_000, total - appended)
      for (let i = 0; i < chunk - 1; i++) setup.log.append$.next({ channel: 'bench', value: payload(appended + i), key: `k${i % 64}` })
      await setup.log.append('bench', payload(appended + chunk - 1), { key: 'k0' })
      appended += chunk
      if (appended % 1_000_000 === 0) context.log(`table size: ${appended.toLocaleString('en-US')} appended, ${(samples.at(-1)?.logBytes ?? 0) / 2 ** 20 | 0} MiB`)
    }
  } finally {
    sampling = false
    await sampler
    await consumer.stop()
    await setup.close()
  }
  const elapsedS = (performance.now() - start) / 1000
  // Steady state: after the retention window (max age + two spans) has filled once.
  const warmUp = maxAgeMs + 2 * spanMs + 1_000
  const steady = samples.filter((sample) => sample.at >= warmUp)
  const log = summarize(steady.map((sample) => sample.logBytes))
  const cursors = summarize(steady.map((sample) => sample.cursorBytes))
  const spread = (s: ReturnType<typeof summarize>) => Math.max(s.max / s.median - 1, 1 - s.min / s.median) * 100
  const mib = (bytes: number) => (bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`)
  const failure = await consumerFailure
  return {
    id: 'table-size',
    title: 'Table size over a long run with retention',
    method: `${total.toLocaleString('en-US')} values of ~1 KiB appended through append$ at a steady ${ratePerSecond.toLocaleString('en-US')}/s (${elapsedS.toFixed(0)} s in all, ${Math.round(total / elapsedS).toLocaleString('en-US')}/s achieved) with ${spanMs / 1000} s partitions, maxAge ${maxAgeMs / 1000} s, maintenance every second, and a consumer group working alongside (the producer waits while it is more than ${maxLag.toLocaleString('en-US')} behind${failure ? `; it stopped: ${failure}` : ''}). Sizes sampled every 2 s; steady state after ${warmUp / 1000} s (${steady.length} samples).`,
    tables: [
      {
        headers: ['', 'median', 'min', 'max', 'spread around the median'],
        rows: [
          ['log (all partitions)', mib(log.median), mib(log.min), mib(log.max), `±${spread(log).toFixed(0)}%`],
          ['consumer cursors', mib(cursors.median), mib(cursors.min), mib(cursors.max), `±${spread(cursors).toFixed(0)}%`],
        ],
      },
    ],
    targets: [
      {
        // The cursor table is a few pages (HOT updates): its percentage moves by whole 8 KiB pages, so it is
        // held to an absolute bound instead.
        target: `table size flat (±10%) over ${total.toLocaleString('en-US')} messages with retention`,
        measured: `log ±${spread(log).toFixed(0)}% (${mib(log.min)}–${mib(log.max)}); cursor table ${mib(cursors.min)}–${mib(cursors.max)}`,
        met: spread(log) <= 10 && cursors.max <= 2 ** 20,
      },
    ],
    raw: { samples, failure },
  }
}
