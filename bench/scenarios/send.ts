/**
 * Scenario 4, send: how many notifications per second each library commits, each sending the way its
 * README shows, from a process of its own, with every call issued at once and awaited together.
 */
import { SENDER_LABELS, SENDER_PEERS, type SenderPeer } from '../peers/index.js'
import { formatNumber, formatRatio, formatSummary, summarize } from '../support/stats.js'
import { Worker } from '../support/worker.js'
import { pairedRatios, rotate, type BenchContext, type ChartGroup, type ScenarioResult, type TargetCheck } from './common.js'

interface SendResult {
  sent: number
  elapsedNs: number
  cpuUs: number
}

export async function send(context: BenchContext): Promise<ScenarioResult> {
  const runs = context.quick ? 3 : 5
  /** Each run of each library lasts about this long (its count is set from a warm-up run). */
  const targetMs = context.quick ? 300 : 1000
  const channel = 'bench_send'
  const workers = new Map<SenderPeer, Worker>()
  const counts = new Map<SenderPeer, number>()
  const rates = new Map<SenderPeer, number[]>(SENDER_PEERS.map((peer) => [peer, []]))
  const cpu = new Map<SenderPeer, number[]>(SENDER_PEERS.map((peer) => [peer, []]))
  let seq = 0
  try {
    for (const peer of SENDER_PEERS) {
      const worker = await Worker.start('sender', `sender(${peer})`, { nodeFlags: ['--no-deprecation'] })
      workers.set(peer, worker)
      await worker.call('peerSetup', { peer, url: context.url })
      // Warm-up, and a count that makes a run last about targetMs.
      const warm = await worker.call<SendResult>('peerSend', { channel, count: 2000, seqStart: (seq += 2000) }, 120_000)
      const rate = warm.sent / (warm.elapsedNs / 1e9)
      // At most 90,000: rxpg's default send queue holds 100,000 (past it, notify$ refuses with NotifyQueueFullError).
      counts.set(peer, Math.max(2000, Math.min(90_000, Math.round((rate * targetMs) / 1000 / 1000) * 1000)))
    }
    for (let run = 0; run < runs; run++) {
      for (const peer of rotate(SENDER_PEERS, run)) {
        const worker = workers.get(peer) as Worker
        const count = counts.get(peer) as number
        const result = await worker.call<SendResult>('peerSend', { channel, count, seqStart: (seq += count) }, 120_000)
        const rate = result.sent / (result.elapsedNs / 1e9)
        rates.get(peer)?.push(rate)
        cpu.get(peer)?.push(result.cpuUs / result.sent)
        context.log(`send run ${run + 1}/${runs} ${peer}: ${formatNumber(rate)}/s (${count.toLocaleString('en-US')} in ${formatNumber(result.elapsedNs / 1e6)} ms)`)
      }
    }
  } finally {
    for (const worker of workers.values()) await worker.stop()
  }
  const base = rates.get('pg') as number[]
  const ratioTo = (peer: SenderPeer, reference: SenderPeer) => summarize(pairedRatios(rates.get(peer) as number[], rates.get(reference) as number[]))
  const rows = SENDER_PEERS.map((peer) => [
    SENDER_LABELS[peer],
    formatSummary(summarize(rates.get(peer) as number[])),
    formatRatio(summarize(pairedRatios(rates.get(peer) as number[], base)).median),
    formatRatio(ratioTo(peer, 'pg-listen').median),
    formatRatio(ratioTo(peer, 'postgres').median),
    formatSummary(summarize(cpu.get(peer) as number[])),
    (counts.get(peer) ?? 0).toLocaleString('en-US'),
  ])
  const subjectVsPostgres = ratioTo('rxpg-notify$', 'postgres')
  const subjectVsPgListen = ratioTo('rxpg-notify$', 'pg-listen')
  const promiseVsPostgres = ratioTo('rxpg-notify()', 'postgres')
  const promiseVsPgListen = ratioTo('rxpg-notify()', 'pg-listen')
  const targets: TargetCheck[] = [
    {
      target: 'send ≥ 5× postgres.js (notify$ / notify())',
      measured: `${formatRatio(subjectVsPostgres.median)} / ${formatRatio(promiseVsPostgres.median)}`,
      met: subjectVsPostgres.median >= 5 && promiseVsPostgres.median >= 5,
    },
    {
      target: 'send ≥ 10× pg-listen (notify$ / notify())',
      measured: `${formatRatio(subjectVsPgListen.median)} / ${formatRatio(promiseVsPgListen.median)}`,
      met: subjectVsPgListen.median >= 10 && promiseVsPgListen.median >= 10,
    },
  ]
  const chart: ChartGroup[] = [
    {
      label: 'send msgs/s',
      lowerIsBetter: false,
      bars: (['pg-listen', 'postgres', 'rxpg-notify$', 'rxpg-notify()'] as const).map((peer) => {
        const ratios = summarize(pairedRatios(rates.get(peer) as number[], base))
        return { peer: peer.startsWith('rxpg') ? (peer === 'rxpg-notify$' ? 'rxpg' : 'rxpg notify()') : peer, ratio: ratios.median, min: ratios.min, max: ratios.max }
      }),
    },
  ]
  return {
    id: 'send',
    title: '4. Send',
    method:
      `Each library sends from a process of its own to one channel with no listener: all calls issued at once, then awaited (pg: \`client.query('SELECT pg_notify($1, $2)')\` per notification, which pg runs one at a time; ` +
      `pg-listen: \`subscriber.notify(channel, object)\` (it serializes with JSON.stringify); postgres.js: \`sql.notify(channel, text)\`; rxpg \`notify$\`: \`next()\` for all but the last, then \`await notify()\` for the last, which resolves after everything before it committed; rxpg \`notify()\`: \`Promise.all\`). ` +
      `Every payload is a distinct ~110-byte object (serialized inside the timed span). A warm-up sets each library's count so that a run lasts ~${targetMs} ms; ${runs} runs, interleaved. CPU is the sender process's.`,
    tables: [
      {
        headers: ['sender', 'msgs/s', '× pg', '× pg-listen', '× postgres.js', 'sender CPU µs/msg', 'per run'],
        rows,
      },
    ],
    chart,
    targets,
    raw: { rates: Object.fromEntries(rates), cpuPerMessage: Object.fromEntries(cpu), counts: Object.fromEntries(counts) },
  }
}
