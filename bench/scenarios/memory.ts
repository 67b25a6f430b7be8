/**
 * Scenario 5, memory. (a) Heap per idle channel subscription: a receiver listening to one channel, then to
 * 10,000 more; the heap difference (after `global.gc()`) divided by 10,000. (b) Heap and RSS before and after
 * a million notifications received and decoded, sampled every 100,000 (after `global.gc()`).
 */
import { PEER_LABELS, RECEIVER_PEERS } from '../peers/types.js'
import { formatNumber, formatSummary, summarize } from '../support/stats.js'
import type { MemorySample } from '../workers/receiver.js'
import { measure, rotate, startReceiver, startSender, type BenchContext, type ScenarioResult, type TargetCheck } from './common.js'

const MiB = 2 ** 20

interface StreamRun {
  samples: MemorySample[]
  /** Least-squares slope of heapUsed over the samples after the first, bytes per 100,000 notifications. */
  heapSlope: number
  heapGrowth: number
  rssGrowth: number
}

/** Least-squares slope of `values` against their index. */
export function slope(values: readonly number[]): number {
  const n = values.length
  if (n < 2) return Number.NaN
  const meanX = (n - 1) / 2
  const meanY = values.reduce((sum, value) => sum + value, 0) / n
  let numerator = 0
  let denominator = 0
  values.forEach((value, index) => {
    numerator += (index - meanX) * (value - meanY)
    denominator += (index - meanX) ** 2
  })
  return numerator / denominator
}

export async function memory(context: BenchContext): Promise<ScenarioResult> {
  const runs = context.quick ? 1 : 3
  const idleChannels = 10_000
  const total = context.quick ? 200_000 : 1_000_000
  const chunk = context.quick ? 50_000 : 100_000
  const gcFlags = { worker: { nodeFlags: ['--expose-gc'] } }

  const perSubscription = new Map<string, number[]>(RECEIVER_PEERS.map((peer) => [peer, []]))
  const streams = new Map<string, StreamRun[]>(RECEIVER_PEERS.map((peer) => [peer, []]))
  const sender = await startSender(context)
  try {
    for (let run = 0; run < runs; run++) {
      for (const peer of rotate(RECEIVER_PEERS, run)) {
        // (a) idle subscriptions
        {
          const { worker } = await startReceiver(context, peer, { prefix: `bench_idle_${run}_base_`, count: 1 }, gcFlags)
          try {
            const before = await worker.call<MemorySample>('memory')
            await worker.call('add', { channels: { prefix: `bench_idle_${run}_`, count: idleChannels } }, 120_000)
            const after = await worker.call<MemorySample>('memory')
            const bytes = (after.heapUsed - before.heapUsed) / idleChannels
            perSubscription.get(peer)?.push(bytes)
            context.log(`memory run ${run + 1}/${runs} ${peer}: ${formatNumber(bytes)} heap bytes per idle channel subscription`)
          } finally {
            await worker.stop()
          }
        }
        // (b) a million notifications
        if (context.quick && run > 0) continue
        {
          const channels = { prefix: 'bench_mem_stream_', count: 1 }
          const { worker } = await startReceiver(context, peer, channels, gcFlags)
          try {
            await measure(context, worker, sender, { channels, count: 50_000, mode: 'live' })
            const samples: MemorySample[] = [await worker.call<MemorySample>('memory')]
            for (let sent = 0; sent < total; sent += chunk) {
              const result = await measure(context, worker, sender, { channels, count: chunk, mode: 'live', seqStart: sent })
              if (result.collect.timedOut) throw new Error(`only ${result.deliveries} of ${chunk} notifications arrived`)
              samples.push(await worker.call<MemorySample>('memory'))
            }
            const first = samples[0] as MemorySample
            const last = samples[samples.length - 1] as MemorySample
            const entry: StreamRun = {
              samples,
              heapSlope: slope(samples.slice(1).map((sample) => sample.heapUsed)) * (100_000 / chunk),
              heapGrowth: last.heapUsed - first.heapUsed,
              rssGrowth: last.rss - first.rss,
            }
            streams.get(peer)?.push(entry)
            context.log(
              `memory run ${run + 1}/${runs} ${peer}: heap ${formatNumber(first.heapUsed / MiB)} → ${formatNumber(last.heapUsed / MiB)} MiB, rss ${formatNumber(first.rss / MiB)} → ${formatNumber(last.rss / MiB)} MiB over ${total.toLocaleString('en-US')}`,
            )
          } finally {
            await worker.stop()
          }
        }
      }
    }
  } finally {
    await sender.stop()
  }

  const idleRows = RECEIVER_PEERS.map((peer) => [PEER_LABELS[peer] ?? peer, formatSummary(summarize(perSubscription.get(peer) as number[]))])
  const streamRows = RECEIVER_PEERS.map((peer) => {
    const entries = streams.get(peer) as StreamRun[]
    const firstOf = (pick: (sample: MemorySample) => number) => summarize(entries.map((entry) => pick(entry.samples[0] as MemorySample) / MiB))
    const lastOf = (pick: (sample: MemorySample) => number) => summarize(entries.map((entry) => pick(entry.samples[entry.samples.length - 1] as MemorySample) / MiB))
    return [
      PEER_LABELS[peer] ?? peer,
      formatSummary(firstOf((sample) => sample.heapUsed)),
      formatSummary(lastOf((sample) => sample.heapUsed)),
      formatSummary(summarize(entries.map((entry) => entry.heapGrowth / 1024))),
      formatSummary(summarize(entries.map((entry) => entry.heapSlope / 1024))),
      formatSummary(firstOf((sample) => sample.rss)),
      formatSummary(lastOf((sample) => sample.rss)),
    ]
  })
  const rxpg = streams.get('rxpg') ?? []
  const rxpgGrowth = summarize(rxpg.map((entry) => entry.heapGrowth / 1024))
  const rxpgSlope = summarize(rxpg.map((entry) => entry.heapSlope / 1024))
  const targets: TargetCheck[] = [
    {
      target: `no heap growth over ${total.toLocaleString('en-US')} notifications`,
      measured: `rxpg heap ${formatSummary(rxpgGrowth)} KiB from first to last sample; trend ${formatSummary(rxpgSlope)} KiB per 100,000`,
      // "No growth": under 1 KiB per 100,000 notifications of trend, i.e. nothing kept per notification.
      met: rxpgSlope.n > 0 ? Math.abs(rxpgSlope.median) < 64 : null,
    },
  ]
  return {
    id: 'memory',
    title: '5. Memory',
    method:
      `Receivers run with \`--expose-gc\`; every sample is \`process.memoryUsage()\` after two \`global.gc()\` calls. (a) Heap per idle channel subscription: listening to 1 channel, then to ${idleChannels.toLocaleString('en-US')} more ` +
      `(one subscriber each; rxpg: \`channel(name).pipe(decode(d)).subscribe()\`), difference ÷ ${idleChannels.toLocaleString('en-US')}; ${runs} runs. ` +
      `(b) After a 50,000 warm-up, ${total.toLocaleString('en-US')} notifications in bursts of ${chunk.toLocaleString('en-US')}, a sample after each; growth is last − first sample, trend the least-squares slope over the samples after the first${context.quick ? '; 1 run (quick)' : `; ${runs} runs`}.`,
    tables: [
      { title: `(a) Heap bytes per idle channel subscription (${idleChannels.toLocaleString('en-US')} channels), median (min–max)`, headers: ['library', 'bytes / subscription'], rows: idleRows },
      {
        title: `(b) ${total.toLocaleString('en-US')} notifications received: heap and RSS, median (min–max)`,
        headers: ['library', 'heap before (MiB)', 'heap after (MiB)', 'heap growth (KiB)', 'heap trend (KiB / 100k)', 'RSS before (MiB)', 'RSS after (MiB)'],
        rows: streamRows,
        note: 'Target "no growth": a heap trend within ±64 KiB per 100,000 notifications (under one byte per notification).',
      },
    ],
    chart: [],
    targets,
    raw: { perSubscription: Object.fromEntries(perSubscription), streams: Object.fromEntries(streams) },
  }
}
