/**
 * Scenario 2, fan-out. (a) One connection listening to 1, 100 and 10,000 channels, notifications spread
 * round-robin across all of them. (b) One channel with 1, 100 and 1,000 subscribers. The figure is the
 * receiver's CPU time per notification (and, for (b), per delivery = notification × subscriber).
 */
import { PEER_LABELS, RECEIVER_PEERS } from '../peers/types.js'
import { formatNumber, formatRatio, formatSummary, summarize, type Summary } from '../support/stats.js'
import { measure, pairedRatios, rotate, startReceiver, startSender, type BenchContext, type ChartGroup, type ScenarioResult, type Table, type TargetCheck } from './common.js'

interface Cell {
  cpuPerNotification: number[]
  cpuPerDelivery: number[]
  rate: number[]
  setupMs: number[]
  failures: string[]
}

const newCell = (): Cell => ({ cpuPerNotification: [], cpuPerDelivery: [], rate: [], setupMs: [], failures: [] })

export async function fanout(context: BenchContext): Promise<ScenarioResult> {
  const runs = context.quick ? 1 : 3
  const channelCounts = [1, 100, 10_000]
  const subscriberCounts = [1, 100, 1000]
  // PostgreSQL's listening backend checks every incoming notification against its LISTEN list one by one,
  // so with 10,000 listened channels it delivers only ~80-90k notifications/s here (against ~1M/s with one).
  // Every channel count is therefore sent at the same fixed rate, below that, so the receiver sees the same
  // arrival pattern and only its own per-notification cost differs.
  const rate = 40_000
  const batch = 100
  const count = (_channels: number) => (context.quick ? 12_000 : 40_000)
  // postgres.js and per-subscriber decoding cost ~0.4 ms per notification with 1,000 subscribers: fewer then.
  const subscriberCount = (subscribers: number) => (context.quick ? 5_000 : subscribers >= 1000 ? 5_000 : subscribers >= 100 ? 20_000 : 40_000)
  const channelPeers = RECEIVER_PEERS
  const subscriberPeers = [...RECEIVER_PEERS, 'rxpg-each'] as const

  const byChannels = new Map<string, Cell>()
  const bySubscribers = new Map<string, Cell>()
  const sender = await startSender(context)
  try {
    for (let run = 0; run < runs; run++) {
      for (const channels of channelCounts) {
        for (const peer of rotate(channelPeers, run)) {
          const cell = byChannels.get(`${peer}/${channels}`) ?? newCell()
          byChannels.set(`${peer}/${channels}`, cell)
          const set = { prefix: `bench_fan_${channels}_`, count: channels }
          await one(context, cell, `fan-out ${channels} channels run ${run + 1}/${runs} ${peer}`, async () => {
            const { worker, setupMs } = await startReceiver(context, peer, set)
            cell.setupMs.push(setupMs)
            try {
              await measure(context, worker, sender, { channels: set, count: Math.min(10_000, count(channels)), mode: 'live', batch: 1000 })
              return await measure(context, worker, sender, { channels: set, count: count(channels), mode: 'live', batch, rate, timeoutMs: 60_000 })
            } finally {
              await worker.stop()
            }
          })
        }
      }
      for (const subscribers of subscriberCounts) {
        for (const peer of rotate(subscriberPeers, run)) {
          const cell = bySubscribers.get(`${peer}/${subscribers}`) ?? newCell()
          bySubscribers.set(`${peer}/${subscribers}`, cell)
          const set = { prefix: `bench_subs_`, count: 1 }
          await one(context, cell, `fan-out ${subscribers} subscribers run ${run + 1}/${runs} ${peer}`, async () => {
            const { worker, setupMs } = await startReceiver(context, peer, set, { subscribers })
            cell.setupMs.push(setupMs)
            try {
              const n = subscriberCount(subscribers)
              await measure(context, worker, sender, { channels: set, count: Math.min(5_000, n), subscribers, mode: 'live' })
              return await measure(context, worker, sender, { channels: set, count: n, subscribers, mode: 'live', timeoutMs: 60_000 })
            } finally {
              await worker.stop()
            }
          })
        }
      }
    }
  } finally {
    await sender.stop()
  }
  return report(byChannels, bySubscribers, channelCounts, subscriberCounts, [...channelPeers], [...subscriberPeers], count, subscriberCount, rate, batch, runs)
}

async function one(context: BenchContext, cell: Cell, what: string, run: () => Promise<Awaited<ReturnType<typeof measure>>>): Promise<void> {
  try {
    const result = await run()
    if (result.collect.timedOut) {
      cell.failures.push(`timed out after ${result.deliveries} deliveries`)
      cell.cpuPerNotification.push(Number.NaN)
      cell.cpuPerDelivery.push(Number.NaN)
      cell.rate.push(Number.NaN)
    } else {
      cell.cpuPerNotification.push(result.cpuPerNotification)
      cell.cpuPerDelivery.push(result.cpuPerDelivery)
      cell.rate.push(result.perSecond / (result.deliveries / Math.max(1, result.blast.sent)))
    }
    context.log(`${what}: ${formatNumber(result.cpuPerNotification)} µs/notification, ${formatNumber(result.cpuPerDelivery)} µs/delivery, ${formatNumber(result.perSecond)} deliveries/s`)
  } catch (error) {
    cell.failures.push(String(error))
    cell.cpuPerNotification.push(Number.NaN)
    cell.cpuPerDelivery.push(Number.NaN)
    cell.rate.push(Number.NaN)
    context.log(`${what}: FAILED ${String(error)}`)
  }
}

function report(
  byChannels: Map<string, Cell>,
  bySubscribers: Map<string, Cell>,
  channelCounts: number[],
  subscriberCounts: number[],
  channelPeers: string[],
  subscriberPeers: string[],
  count: (channels: number) => number,
  subscriberCount: (subscribers: number) => number,
  rate: number,
  batch: number,
  runs: number,
): ScenarioResult {
  const get = (map: Map<string, Cell>, peer: string, size: number) => map.get(`${peer}/${size}`) ?? newCell()
  const cellText = (summary: Summary, failures: string[]) => (summary.n === 0 ? `failed${failures[0] ? ` (${failures[0].slice(0, 80)})` : ''}` : formatSummary(summary))

  const channelTable: Table = {
    title: '(a) One connection, N listened channels: receiver CPU µs per notification, median (min–max)',
    headers: ['library', ...channelCounts.map((n) => `${n.toLocaleString('en-US')} ch`), '10,000 ÷ 1 ch', 'received/s at 10,000 ch', 'LISTEN set-up at 10,000 ch (ms)'],
    rows: channelPeers.map((peer) => {
      const one = summarize(get(byChannels, peer, 1).cpuPerNotification)
      const many = summarize(get(byChannels, peer, 10_000).cpuPerNotification)
      return [
        PEER_LABELS[peer] ?? peer,
        ...channelCounts.map((n) => cellText(summarize(get(byChannels, peer, n).cpuPerNotification), get(byChannels, peer, n).failures)),
        formatRatio(many.median / one.median),
        formatSummary(summarize(get(byChannels, peer, 10_000).rate)),
        formatSummary(summarize(get(byChannels, peer, 10_000).setupMs)),
      ]
    }),
    note: `${count(1).toLocaleString('en-US')} notifications per run, round-robin over the channels, sent at a fixed ${rate.toLocaleString('en-US')}/s (${batch} per statement) for every channel count: PostgreSQL delivers only ~80-90k/s to a backend listening to 10,000 channels (it compares each notification with its LISTEN list one by one), so sending as fast as possible would change the arrival pattern, not just the channel count.`,
  }
  const subscriberTable: Table = {
    title: '(b) One channel, N subscribers: receiver CPU µs per notification / per delivery, median (min–max)',
    headers: ['library', ...subscriberCounts.map((n) => `${n.toLocaleString('en-US')} sub`), '1,000 sub: per delivery'],
    rows: subscriberPeers.map((peer) => [
      PEER_LABELS[peer] ?? peer,
      ...subscriberCounts.map((n) => cellText(summarize(get(bySubscribers, peer, n).cpuPerNotification), get(bySubscribers, peer, n).failures)),
      formatSummary(summarize(get(bySubscribers, peer, 1000).cpuPerDelivery)),
    ]),
    note:
      `${subscriberCount(1).toLocaleString('en-US')} notifications per run (${subscriberCount(100).toLocaleString('en-US')} with 100 subscribers, ${subscriberCount(1000).toLocaleString('en-US')} with 1,000). Each subscriber gets the decoded value: ` +
      `pg: one handler decodes and calls N callbacks (what a user would write); pg-listen: N \`notifications.on\` (decoded once by pg-listen); ` +
      `postgres.js: N \`sql.listen\`, each parsing (its README's usage); rxpg: \`channel().pipe(decode(d), share())\` subscribed N times; rxpg (decode per subscriber): N \`channel().pipe(decode(d))\`.`,
  }
  const ratioTable: Table = {
    title: 'Ratios to raw pg at the same size (median of per-run ratios)',
    headers: ['library', ...channelCounts.map((n) => `${n.toLocaleString('en-US')} ch`), ...subscriberCounts.map((n) => `${n.toLocaleString('en-US')} sub`)],
    rows: subscriberPeers
      .filter((peer) => peer !== 'pg')
      .map((peer) => [
        PEER_LABELS[peer] ?? peer,
        ...channelCounts.map((n) =>
          channelPeers.includes(peer) ? formatRatio(summarize(pairedRatios(get(byChannels, peer, n).cpuPerNotification, get(byChannels, 'pg', n).cpuPerNotification)).median) : '–',
        ),
        ...subscriberCounts.map((n) => formatRatio(summarize(pairedRatios(get(bySubscribers, peer, n).cpuPerNotification, get(bySubscribers, 'pg', n).cpuPerNotification)).median)),
      ]),
  }
  const rxpgOne = summarize(get(byChannels, 'rxpg', 1).cpuPerNotification).median
  const rxpgMany = summarize(get(byChannels, 'rxpg', 10_000).cpuPerNotification).median
  const pgOne = summarize(get(byChannels, 'pg', 1).cpuPerNotification).median
  const pgMany = summarize(get(byChannels, 'pg', 10_000).cpuPerNotification).median
  const targets: TargetCheck[] = [
    {
      target: 'cost per notification with 10,000 channels within 10% of 1 channel',
      measured: `rxpg ${formatNumber(rxpgMany)} vs ${formatNumber(rxpgOne)} µs = ${formatRatio(rxpgMany / rxpgOne)} (raw pg under the same load: ${formatRatio(pgMany / pgOne)})`,
      met: Number.isFinite(rxpgMany / rxpgOne) ? rxpgMany / rxpgOne <= 1.1 : null,
    },
  ]
  const chart: ChartGroup[] = [
    {
      label: 'CPU/notification, 10,000 channels',
      lowerIsBetter: true,
      bars: channelPeers
        .filter((peer) => peer !== 'pg')
        .map((peer) => {
          const ratios = summarize(pairedRatios(get(byChannels, peer, 10_000).cpuPerNotification, get(byChannels, 'pg', 10_000).cpuPerNotification))
          return { peer, ratio: ratios.median, min: ratios.min, max: ratios.max }
        }),
    },
    {
      label: 'CPU/notification, 1,000 subscribers',
      lowerIsBetter: true,
      bars: subscriberPeers
        .filter((peer) => peer !== 'pg' && peer !== 'rxpg-each')
        .map((peer) => {
          const ratios = summarize(pairedRatios(get(bySubscribers, peer, 1000).cpuPerNotification, get(bySubscribers, 'pg', 1000).cpuPerNotification))
          return { peer, ratio: ratios.median, min: ratios.min, max: ratios.max }
        }),
    },
  ]
  return {
    id: 'fanout',
    title: '2. Fan-out',
    method:
      'Same processes and sender as *receive* (live mode). The receiver listens to N channels (names `bench_fan_N_i`) and the sender spreads notifications round-robin over all of them, at a fixed rate; ' +
      `or one channel has N subscribers (sent as fast as possible). Figures are receiver CPU µs per notification received, medians of ${runs} run(s) (fresh receiver per run, libraries interleaved).`,
    tables: [channelTable, subscriberTable, ratioTable],
    chart,
    targets,
    raw: {
      channels: Object.fromEntries([...byChannels.entries()].map(([key, cell]) => [key, { ...cell, summary: summarize(cell.cpuPerNotification) }])),
      subscribers: Object.fromEntries([...bySubscribers.entries()].map(([key, cell]) => [key, { ...cell, summary: summarize(cell.cpuPerNotification) }])),
    },
  }
}
