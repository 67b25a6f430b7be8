/**
 * Scenario 1, receive: ~110-byte JSON notifications from a fast raw-pg sender; each library receives and
 * decodes them in a process of its own. Two modes: 'live' (sender and receiver at once: the end-to-end rate
 * on this machine) and 'drain' (receiver frozen while the sender queues everything, then thawed: how fast
 * the receiver alone can go).
 */
import { join, relative } from 'node:path'
import { PEER_LABELS, RECEIVER_PEERS } from '../peers/types.js'
import { profileTable, readProfile } from '../support/profile.js'
import { formatNumber, formatRatio, formatSummary, summarize, type Summary } from '../support/stats.js'
import { measure, pairedRatios, rotate, startReceiver, startSender, type BenchContext, type ChartGroup, type Scenario, type TargetCheck } from './common.js'

const CHANNEL = { prefix: 'bench_receive_', count: 1 }

interface PeerFigures {
  liveRate: number[]
  liveCpu: number[]
  drainRate: number[]
  drainCpu: number[]
}

export const receive: Scenario = async (context) => {
  const runs = context.quick ? 3 : 5
  const count = context.quick ? 30_000 : 100_000
  const warm = context.quick ? 10_000 : 20_000
  const figures = new Map<string, PeerFigures>(RECEIVER_PEERS.map((peer) => [peer, { liveRate: [], liveCpu: [], drainRate: [], drainCpu: [] }]))
  const sender = await startSender(context)
  try {
    for (let run = 0; run < runs; run++) {
      for (const peer of rotate(RECEIVER_PEERS, run)) {
        const { worker } = await startReceiver(context, peer, CHANNEL)
        try {
          await measure(context, worker, sender, { channels: CHANNEL, count: warm, mode: 'live' })
          const live = await measure(context, worker, sender, { channels: CHANNEL, count, mode: 'live' })
          const drain = await measure(context, worker, sender, { channels: CHANNEL, count, mode: 'drain' })
          const entry = figures.get(peer) as PeerFigures
          entry.liveRate.push(live.collect.timedOut ? Number.NaN : live.perSecond)
          entry.liveCpu.push(live.cpuPerNotification)
          entry.drainRate.push(drain.collect.timedOut ? Number.NaN : drain.perSecond)
          entry.drainCpu.push(drain.cpuPerNotification)
          context.log(
            `receive run ${run + 1}/${runs} ${peer}: live ${formatNumber(live.perSecond)}/s ${formatNumber(live.cpuPerNotification)} µs/msg (sender ${formatNumber(live.blast.sent / (live.blast.elapsedNs / 1e9))}/s); drain ${formatNumber(drain.perSecond)}/s ${formatNumber(drain.cpuPerNotification)} µs/msg`,
          )
        } finally {
          await worker.stop()
        }
      }
    }
    const profiles = context.profile ? await profileRuns(context, sender, count) : undefined
    return report(figures, runs, count, profiles)
  } finally {
    await sender.stop()
  }
}

/**
 * One extra receiver each for raw pg and rxpg, profiled (V8's sampling profiler, in-process through
 * node:inspector, only around the measured bursts); returns markdown with the top frames.
 */
async function profileRuns(context: BenchContext, sender: Awaited<ReturnType<typeof startSender>>, count: number): Promise<string> {
  const parts: string[] = []
  const repeats = 3
  for (const peer of ['pg', 'rxpg'] as const) {
    const path = join(context.scratchDir, `receive-${peer}-${Date.now()}.cpuprofile`)
    const { worker } = await startReceiver(context, peer, CHANNEL)
    const cpu: number[] = []
    try {
      await measure(context, worker, sender, { channels: CHANNEL, count: 20_000, mode: 'live' })
      await worker.call('profileStart', { intervalUs: 100 })
      for (let repeat = 0; repeat < repeats; repeat++) {
        cpu.push((await measure(context, worker, sender, { channels: CHANNEL, count, mode: 'drain' })).cpuPerNotification)
      }
      await worker.call('profileStop', { path })
    } finally {
      await worker.stop()
    }
    const summary = await readProfile(path, 15)
    parts.push(
      `**${PEER_LABELS[peer]}** receiver, ${repeats} × ${count.toLocaleString('en-US')} drained notifications under the profiler (${cpu.map((value) => formatNumber(value)).join(', ')} µs/msg), \`${relative(process.cwd(), path)}\`:\n\n${profileTable(summary)}`,
    )
  }
  return parts.join('\n\n')
}

function report(figures: Map<string, PeerFigures>, runs: number, count: number, profiles: string | undefined) {
  const base = figures.get('pg') as PeerFigures
  const summaries = [...figures.entries()].map(([peer, entry]) => ({
    peer,
    liveRate: summarize(entry.liveRate),
    liveCpu: summarize(entry.liveCpu),
    drainRate: summarize(entry.drainRate),
    drainCpu: summarize(entry.drainCpu),
    liveRateRatio: summarize(pairedRatios(entry.liveRate, base.liveRate)),
    liveCpuRatio: summarize(pairedRatios(entry.liveCpu, base.liveCpu)),
    drainRateRatio: summarize(pairedRatios(entry.drainRate, base.drainRate)),
    drainCpuRatio: summarize(pairedRatios(entry.drainCpu, base.drainCpu)),
  }))
  const ratioCell = (summary: Summary) => (summary.n === 0 ? '–' : `${formatRatio(summary.median)} (${formatRatio(summary.min)}–${formatRatio(summary.max)})`)
  const table = (mode: 'live' | 'drain') => ({
    title: mode === 'live' ? 'Live: sender and receiver at the same time' : 'Drain: receiver frozen while the backlog is queued, then thawed',
    headers: ['library', 'msgs/s', '× pg', 'receiver CPU µs/msg', '× pg'],
    rows: summaries.map((entry) => [
      PEER_LABELS[entry.peer] ?? entry.peer,
      formatSummary(mode === 'live' ? entry.liveRate : entry.drainRate),
      ratioCell(mode === 'live' ? entry.liveRateRatio : entry.drainRateRatio),
      formatSummary(mode === 'live' ? entry.liveCpu : entry.drainCpu),
      ratioCell(mode === 'live' ? entry.liveCpuRatio : entry.drainCpuRatio),
    ]),
  })
  const rxpg = summaries.find((entry) => entry.peer === 'rxpg')
  // The brief's receive scenario is the live one (a sender as fast as PostgreSQL takes them); the drain figures
  // (the receiving side alone, CPU-bound) are given alongside.
  const targets: TargetCheck[] = rxpg
    ? [
        {
          target: 'receive throughput ≥ 0.95× raw pg',
          measured: `live ${formatRatio(rxpg.liveRateRatio.median)} (receiver-bound drain: ${formatRatio(rxpg.drainRateRatio.median)})`,
          met: rxpg.liveRateRatio.median >= 0.95,
        },
        {
          target: 'receiver CPU/msg ≤ 1.15× raw pg',
          measured: `live ${formatRatio(rxpg.liveCpuRatio.median)}, drain ${formatRatio(rxpg.drainCpuRatio.median)}`,
          met: rxpg.liveCpuRatio.median <= 1.15 && rxpg.drainCpuRatio.median <= 1.15,
        },
      ]
    : []
  const bars = (pick: (entry: (typeof summaries)[number]) => Summary) =>
    summaries.filter((entry) => entry.peer !== 'pg').map((entry) => ({ peer: entry.peer, ratio: pick(entry).median, min: pick(entry).min, max: pick(entry).max }))
  const chart: ChartGroup[] = [
    { label: 'receive msgs/s (drain)', lowerIsBetter: false, bars: bars((entry) => entry.drainRateRatio) },
    { label: 'receive CPU/msg (drain)', lowerIsBetter: true, bars: bars((entry) => entry.drainCpuRatio) },
    { label: 'receive CPU/msg (live)', lowerIsBetter: true, bars: bars((entry) => entry.liveCpuRatio) },
  ]
  return {
    id: 'receive',
    title: '1. Receive',
    method:
      `A raw-pg sender process sends ${count.toLocaleString('en-US')} distinct ~110-byte JSON payloads (\`SELECT pg_notify(c, p) FROM unnest($1, $2)\`, 1000 per statement) on one channel; ` +
      `the receiver process decodes each (pg: \`on('notification')\` + \`JSON.parse\`; pg-listen: default parse; postgres.js: \`listen\` + \`JSON.parse\`; rxpg: \`channel().pipe(decode(d))\`). ` +
      `Rate and CPU (\`process.cpuUsage()\`, user + system) are taken in the receiver from the first delivery to the last. ${runs} runs, libraries interleaved (rotated order), a fresh receiver per run after a warm-up; ` +
      `ratios are medians of per-run ratios to raw pg (min–max). In *live* mode the sender, the receiver and two PostgreSQL backends share 2 cores, so the rate is mostly the sender's; *drain* measures the receiving side alone.`,
    tables: [table('live'), table('drain')],
    chart,
    targets,
    extra: profiles ? `#### CPU profiles (receive)\n\n${profiles}` : undefined,
    raw: Object.fromEntries(summaries.map((entry) => [entry.peer, entry])),
  }
}
