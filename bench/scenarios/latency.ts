/**
 * Scenario 3, latency: from sending a NOTIFY to the emission in the subscriber, per library, at 1,000 msg/s
 * and at saturation.
 *
 * Clock: `process.hrtime` is CLOCK_MONOTONIC, one clock for every process on the machine, so a sender's
 * timestamp and a receiver's can be subtracted. The sender takes `t_send` right before handing the statement
 * to pg and writes it into the payload; the receiver takes `t_emit` in the subscriber, after decoding. The
 * sender also takes `t_ack` when the statement's result arrives. The commit happens inside [t_send, t_ack]
 * (PostgreSQL commits, then answers the sender and signals the listening backends), so
 * `t_emit - t_send` is an upper bound of commit-to-emission latency, and `t_emit - t_ack` a lower bound that
 * also leaves out the server's reply to the sender. Both are reported; the target is checked on the upper bound.
 */
import { PEER_LABELS, RECEIVER_PEERS } from '../peers/types.js'
import { formatNumber, formatRatio, formatSummary, latencyPercentiles, summarize, type LatencyPercentiles } from '../support/stats.js'
import type { CollectResult } from '../workers/receiver.js'
import type { BlastResult, PacedResult } from '../workers/sender.js'
import { pairedRatios, rotate, startReceiver, startSender, type ChartGroup, type ScenarioResult, type Table, type TargetCheck } from './common.js'

const CHANNEL = { prefix: 'bench_latency_', count: 1 }

interface RunFigures {
  /** t_emit - t_send, ms. */
  upper: LatencyPercentiles
  /** t_emit - t_ack, ms. */
  lower: LatencyPercentiles
  /** t_ack - t_send (the sender's round trip), ms. */
  roundTrip: LatencyPercentiles
  received: number
  expected: number
}

interface PeerFigures {
  paced: RunFigures[]
  saturated: RunFigures[]
}

export async function latency(context: import('./common.js').BenchContext): Promise<ScenarioResult> {
  const runs = context.quick ? 1 : 3
  const rate = 1000
  const pacedCount = context.quick ? 1500 : 4000
  const saturatedCount = context.quick ? 20_000 : 60_000
  const saturatedBatch = 100
  const figures = new Map<string, PeerFigures>(RECEIVER_PEERS.map((peer) => [peer, { paced: [], saturated: [] }]))
  const sender = await startSender(context)
  let seq = 0
  try {
    for (let run = 0; run < runs; run++) {
      for (const peer of rotate(RECEIVER_PEERS, run)) {
        const { worker } = await startReceiver(context, peer, CHANNEL)
        try {
          // Warm-up: JIT and connection.
          await worker.call('arm', { count: 10_000 })
          await sender.call('blast', { url: context.url, channels: CHANNEL, count: 10_000, batch: 1000, seqStart: (seq += 10_000) })
          await worker.call('collect', { timeoutMs: 30_000 })

          const pacedStart = (seq += pacedCount)
          await worker.call('arm', { count: pacedCount, timed: true })
          const paced = await sender.call<PacedResult>('paced', { url: context.url, channel: CHANNEL.prefix + '0', count: pacedCount, rate, seqStart: pacedStart }, 120_000)
          const pacedCollect = await worker.call<CollectResult>('collect', { timeoutMs: 30_000 })
          const pacedFigures = joinPaced(paced, pacedCollect, pacedStart)

          const saturatedStart = (seq += saturatedCount)
          await worker.call('arm', { count: saturatedCount, timed: true })
          const blast = await sender.call<BlastResult>(
            'blast',
            { url: context.url, channels: CHANNEL, count: saturatedCount, batch: saturatedBatch, seqStart: saturatedStart, timed: true },
            120_000,
          )
          const saturatedCollect = await worker.call<CollectResult>('collect', { timeoutMs: 60_000 })
          const saturatedFigures = joinBatches(blast, saturatedCollect, saturatedCount)

          const entry = figures.get(peer) as PeerFigures
          entry.paced.push(pacedFigures)
          entry.saturated.push(saturatedFigures)
          context.log(
            `latency run ${run + 1}/${runs} ${peer}: ${rate}/s p50 ${formatNumber(pacedFigures.upper.p50)} p99 ${formatNumber(pacedFigures.upper.p99)} max ${formatNumber(pacedFigures.upper.max)} ms; ` +
              `saturated (${formatNumber(blast.sent / (blast.elapsedNs / 1e9))}/s sent) p50 ${formatNumber(saturatedFigures.upper.p50)} p99 ${formatNumber(saturatedFigures.upper.p99)} max ${formatNumber(saturatedFigures.upper.max)} ms`,
          )
        } finally {
          await worker.stop()
        }
      }
    }
  } finally {
    await sender.stop()
  }
  return report(figures, { runs, rate, pacedCount, saturatedCount, saturatedBatch })
}

function joinPaced(paced: PacedResult, collect: CollectResult, seqStart: number): RunFigures {
  const upper: number[] = []
  const lower: number[] = []
  const roundTrip: number[] = []
  const emitNs = collect.emitNs ?? []
  const seqs = collect.seqs ?? []
  for (let index = 0; index < emitNs.length; index++) {
    const at = (seqs[index] as number) - seqStart
    const send = paced.sendNs[at]
    const ack = paced.ackNs[at]
    if (send === undefined || ack === undefined) continue
    upper.push(((emitNs[index] as number) - send) / 1e6)
    lower.push(((emitNs[index] as number) - ack) / 1e6)
    roundTrip.push((ack - send) / 1e6)
  }
  return { upper: latencyPercentiles(upper), lower: latencyPercentiles(lower), roundTrip: latencyPercentiles(roundTrip), received: collect.received, expected: paced.sent }
}

function joinBatches(blast: BlastResult, collect: CollectResult, expected: number): RunFigures {
  const batches = blast.batches ?? []
  const upper: number[] = []
  const lower: number[] = []
  const emitNs = collect.emitNs ?? []
  const seqs = collect.seqs ?? []
  // Batches are in seq order: find each delivery's batch by binary search.
  const firsts = batches.map((batch) => batch[0])
  for (let index = 0; index < emitNs.length; index++) {
    const seq = seqs[index] as number
    let low = 0
    let high = firsts.length - 1
    while (low < high) {
      const middle = (low + high + 1) >> 1
      if ((firsts[middle] as number) <= seq) low = middle
      else high = middle - 1
    }
    const batch = batches[low]
    if (!batch) continue
    upper.push(((emitNs[index] as number) - batch[2]) / 1e6)
    lower.push(((emitNs[index] as number) - batch[3]) / 1e6)
  }
  const roundTrip = batches.map((batch) => (batch[3] - batch[2]) / 1e6)
  return { upper: latencyPercentiles(upper), lower: latencyPercentiles(lower), roundTrip: latencyPercentiles(roundTrip), received: collect.received, expected }
}

function report(
  figures: Map<string, PeerFigures>,
  settings: { runs: number; rate: number; pacedCount: number; saturatedCount: number; saturatedBatch: number },
): ScenarioResult {
  const pick = (runs: RunFigures[], metric: (run: RunFigures) => number) => summarize(runs.map(metric))
  const tableFor = (mode: 'paced' | 'saturated'): Table => ({
    title:
      mode === 'paced'
        ? `At ${settings.rate.toLocaleString('en-US')} msg/s (one statement per notification): send → emission, ms, median of ${settings.runs} runs (min–max)`
        : `At saturation (${settings.saturatedBatch} per statement, back to back): send → emission, ms, median of ${settings.runs} runs (min–max)`,
    headers: ['library', 'p50', 'p99', 'max', 'p99 × pg', 'p50 from ack (lower bound)', 'received'],
    rows: [...figures.entries()].map(([peer, entry]) => {
      const runs = entry[mode]
      const base = (figures.get('pg') as PeerFigures)[mode]
      const p99Ratio = summarize(pairedRatios(runs.map((run) => run.upper.p99), base.map((run) => run.upper.p99)))
      return [
        PEER_LABELS[peer] ?? peer,
        formatSummary(pick(runs, (run) => run.upper.p50)),
        formatSummary(pick(runs, (run) => run.upper.p99)),
        formatSummary(pick(runs, (run) => run.upper.max)),
        formatRatio(p99Ratio.median),
        formatSummary(pick(runs, (run) => run.lower.p50)),
        `${runs.reduce((sum, run) => sum + run.received, 0).toLocaleString('en-US')} / ${runs.reduce((sum, run) => sum + run.expected, 0).toLocaleString('en-US')}`,
      ]
    }),
    note:
      mode === 'paced'
        ? `${settings.pacedCount.toLocaleString('en-US')} notifications per run. The sender's own round trip (t_ack − t_send, the window the commit falls in) had a median p50 of ${formatNumber(summarize([...figures.values()].flatMap((entry) => entry.paced.map((run) => run.roundTrip.p50))).median)} ms.`
        : `${settings.saturatedCount.toLocaleString('en-US')} notifications per run, all in ${settings.saturatedBatch}-notification statements sent back to back as fast as PostgreSQL takes them; a notification's send time is its statement's. Latency here is mostly queueing: how far the receiver falls behind the sender.`,
  })
  const rxpg = figures.get('rxpg')
  const rxpgP99 = rxpg ? summarize(rxpg.paced.map((run) => run.upper.p99)) : undefined
  const targets: TargetCheck[] = rxpgP99
    ? [
        {
          target: 'p99 latency ≤ 5 ms at 1,000 msg/s',
          measured: `rxpg p99 ${formatSummary(rxpgP99)} ms (send → emission, an upper bound)`,
          met: rxpgP99.n > 0 ? rxpgP99.median <= 5 : null,
        },
      ]
    : []
  const chartBars = (mode: 'paced' | 'saturated') =>
    [...figures.entries()]
      .filter(([peer]) => peer !== 'pg')
      .map(([peer, entry]) => {
        const ratios = summarize(pairedRatios(entry[mode].map((run) => run.upper.p99), (figures.get('pg') as PeerFigures)[mode].map((run) => run.upper.p99)))
        return { peer, ratio: ratios.median, min: ratios.min, max: ratios.max }
      })
  const chart: ChartGroup[] = [
    { label: `p99 latency at ${settings.rate.toLocaleString('en-US')}/s`, lowerIsBetter: true, bars: chartBars('paced') },
    { label: 'p99 latency at saturation', lowerIsBetter: true, bars: chartBars('saturated') },
  ]
  return {
    id: 'latency',
    title: '3. Latency',
    method:
      'Sender and receiver are separate processes on one machine and share CLOCK_MONOTONIC (`process.hrtime`). The raw-pg sender takes t_send right before handing the statement to pg and puts it in the payload; ' +
      'the subscriber takes t_emit after decoding; the sender also records t_ack when the statement returns. PostgreSQL commits inside [t_send, t_ack], so t_emit − t_send is an upper bound of commit → emission ' +
      '(it includes the statement travelling to the server and executing) and t_emit − t_ack a lower bound. A fresh receiver per run, after a 10,000-notification warm-up; libraries interleaved.',
    tables: [tableFor('paced'), tableFor('saturated')],
    chart,
    targets,
    raw: Object.fromEntries([...figures.entries()].map(([peer, entry]) => [peer, entry])),
  }
}
