/**
 * Scenario 6, recovery, on a dedicated embedded PostgreSQL (it stops the server and kills backends, which the
 * shared one must not suffer). Two parts, each with fresh receivers:
 *
 * (a) Server outage: the server is stopped for 5 s and started again, with every library listening (each in
 *     its own process, on its own channel). t0 is the instant a raw connection to the restarted server first
 *     succeeds (polled every 10 ms); from t0 a sender notifies every channel every 10 ms, and each receiver
 *     reports when its first post-outage notification reached the subscriber.
 * (b) Backend kill under load: one sender process notifies one channel at a steady ~2,000 msg/s (one statement
 *     each); every library listens to that channel at once, each in its own process. One library at a time
 *     (rotated order from round to round), the coordinator finds that receiver's listening backend in
 *     pg_stat_activity (by the application_name its URL sets) and terminates it with pg_terminate_backend; the
 *     next kill waits until that receiver has delivered again and things have settled. Every delivery is
 *     recorded (seq, send time from the payload, emission time), which gives loss and duplicates over the whole
 *     stream, and kill → first delivery for each kill. Sender, receivers and coordinator share one clock:
 *     `process.hrtime` is CLOCK_MONOTONIC, system-wide.
 *
 * The kills run first, as the outages end some libraries' streams for good (plain pg, pg-listen's defaults).
 */
import pg from 'pg'
import type { EmbeddedServer } from '../../support/embedded-server.js'
import { PEER_LABELS } from '../peers/types.js'
import { nowNs } from '../support/payload.js'
import { acrossKills, formatNumber, formatRatio, quantile, summarize, tallyStream, type AcrossKill, type KillInstant, type StreamTally } from '../support/stats.js'
import type { Worker } from '../support/worker.js'
import type { CollectResult } from '../workers/receiver.js'
import type { PacedArgs, PacedResult } from '../workers/sender.js'
import { pairedRatios, rotate, sleep, startReceiver, startSender, type BenchContext, type ScenarioResult, type Table, type TargetCheck } from './common.js'

const PEERS = ['pg', 'pg-reconnect', 'pg-listen', 'pg-listen-no-timeout', 'postgres', 'rxpg'] as const
const OUTAGE_MS = 5000
const PING_EVERY_MS = 10

/**
 * The libraries whose listening backend is killed. rxpg comes first because the receivers start in this order
 * and rxpg's receiver confirms its LISTEN with a non-JSON 'probe' notification on the channel itself, which
 * the others' JSON.parse would throw on; started later, they never see it. Plain pg is left out: it never
 * reconnects (part a shows that), so one kill would end its stream. pg-listen with its defaults: its
 * `retryTimeout` only matters while the server refuses connections, which a kill does not make it do.
 */
const KILL_PEERS = ['rxpg', 'pg-reconnect', 'pg-listen', 'postgres'] as const
type KillPeer = (typeof KILL_PEERS)[number]
const KILL_RATE = 2000
const KILL_CHANNEL = { prefix: 'bench_kill_', count: 1 }
/** The stream runs this long before the first kill (connections and JIT warm). */
const KILL_WARM_UP_MS = 1000
/** After a receiver's first delivery following its kill, before the next kill (of any receiver). */
const KILL_SETTLE_MS = 500
/** A receiver that delivers nothing sent after its kill within this long is recorded as not recovering, and not killed again. */
const KILL_BOUND_MS = 10_000
/** After the last notification is committed, how long its delivery may take before the record is read. */
const KILL_DRAIN_MS = 1000
const BACKEND_LOOKUP_EVERY_MS = 5

interface PeerState {
  readonly peer: (typeof PEERS)[number]
  readonly worker: Worker
  readonly channel: string
  /** Recovery time per outage in ms; null when it did not recover within the bound. */
  readonly times: Array<number | null>
  alive: boolean
  lastEvents: string[]
  eventCount: number
}

interface KillState {
  readonly peer: KillPeer
  readonly worker: Worker
  /** Set in the receiver's URL: how the coordinator finds its backends in pg_stat_activity. */
  readonly applicationName: string
  /** Every kill so far; `recovered`: something sent after it arrived within KILL_BOUND_MS (else no more kills). */
  readonly kills: Array<KillInstant & { readonly pid: number; readonly recovered: boolean }>
  /** From the record, once the stream has ended. */
  tally: StreamTally | undefined
  across: AcrossKill[]
  lastEvents: string[]
}

interface KillFigures {
  readonly kills: number
  readonly sent: number
  readonly streamMs: number
  /** Per kill (every library's), kill → the sender's first notification after pg_terminate_backend returned, ms. */
  readonly senderDelayMs: readonly number[]
  readonly states: readonly KillState[]
}

interface OutageFigures {
  readonly outages: number
  readonly boundMs: number
  readonly states: readonly PeerState[]
}

export async function recovery(context: BenchContext): Promise<ScenarioResult> {
  const { startEmbeddedServer } = await import('../../support/embedded-server.js')
  const server = await startEmbeddedServer()
  let killFigures: KillFigures
  let outageFigures: OutageFigures
  try {
    killFigures = await backendKills(context, server.url)
    outageFigures = await serverOutages(context, server)
  } finally {
    await server.destroy()
  }
  const kill = killReport(killFigures)
  const outage = outageReport(outageFigures)
  return {
    id: 'recovery',
    title: '6. Recovery',
    method:
      'A dedicated embedded PostgreSQL (not the shared one), every library listening at once, each in its own process; (a) and (b) each start fresh receivers ((b) runs first: (a) ends some libraries\' streams for good). ' +
      'pg: a plain `pg.Client` with an `error` handler, as its docs show (pg does not reconnect; left out of (b)); "pg + hand-written reconnect": a new client every second after `error`/`end`, then LISTEN again. ' +
      'pg-listen: default options (retryTimeout 3000 ms) and, in (a), with `retryTimeout: 0`. Default options for postgres.js and rxpg. ' +
      '(b): one sender notifies one channel at a steady ' + KILL_RATE.toLocaleString('en-US') + ' msg/s and every library listens to it; one library at a time, in an order rotated from round to round, the coordinator finds its listening backend in `pg_stat_activity` ' +
      '(by the `application_name` set in that receiver\'s URL) and kills it with `pg_terminate_backend(pid)`, then waits for that receiver\'s first delivery and ' + KILL_SETTLE_MS + ' ms more before the next kill. ' +
      'Sender, receivers and coordinator share one clock (CLOCK_MONOTONIC through `process.hrtime`).',
    tables: [outage.table, kill.table],
    chart: [],
    targets: [...outage.targets, ...kill.targets],
    raw: { ...outage.raw, kills: kill.raw },
  }
}

/** Part (b): each receiver's listening backend killed in turn while the stream runs. */
async function backendKills(context: BenchContext, url: string): Promise<KillFigures> {
  const kills = context.quick ? 2 : 10
  // An upper bound only (a full run takes ~40 s): the stream is stopped once the kills are done.
  const streamLimitMs = context.quick ? 40_000 : 150_000
  const streamCount = (KILL_RATE * streamLimitMs) / 1000
  const states: KillState[] = []
  const admin = new pg.Client({ connectionString: withApplicationName(url, 'rxpg_bench_killer') })
  admin.on('error', (error) => context.log(`recovery: the connection that kills backends failed: ${error.message}`))
  let sender: Worker | undefined
  let stream: Promise<PacedResult> | undefined
  try {
    await admin.connect()
    for (const peer of KILL_PEERS) {
      const applicationName = `rxpg_bench_kill_${peer.replace(/-/g, '_')}`
      const { worker } = await startReceiver(context, peer, KILL_CHANNEL, { url: withApplicationName(url, applicationName) })
      states.push({ peer, worker, applicationName, kills: [], tally: undefined, across: [], lastEvents: [] })
    }
    // Every delivery is recorded; room for each notification twice, so that duplicates cannot crowd out the tail.
    for (const state of states) await state.worker.call('arm', { count: 2 * streamCount, timed: true })
    sender = await startSender(context, url)
    const streamStarted = Date.now()
    const pacedArgs: PacedArgs = { url, channel: KILL_CHANNEL.prefix + '0', count: streamCount, rate: KILL_RATE, seqStart: 0 }
    stream = sender.call<PacedResult>('paced', pacedArgs, streamLimitMs + 60_000)
    // Awaited after the kills; until then a failure must not count as an unhandled rejection.
    stream.catch(() => undefined)
    await sleep(KILL_WARM_UP_MS)
    rounds: for (let round = 0; round < kills; round++) {
      for (const state of rotate(states, round)) {
        if (state.kills.some((kill) => !kill.recovered)) continue
        if (Date.now() - streamStarted > streamLimitMs - KILL_BOUND_MS - KILL_SETTLE_MS) {
          context.log(`recovery kill: the stream's ${streamLimitMs / 1000} s are nearly up, no more kills after round ${round}`)
          break rounds
        }
        const { firstDeliveryMs, ...kill } = await killListeningBackend(admin, state)
        state.kills.push(kill)
        context.log(
          `recovery kill ${round + 1}/${kills} ${state.peer}: ${kill.recovered ? `first delivery ${formatNumber(firstDeliveryMs)} ms after the kill` : `nothing within ${KILL_BOUND_MS / 1000} s, not killed again`}`,
        )
        await sleep(KILL_SETTLE_MS)
      }
    }
    await sender.call('stopPaced')
    const { sent, elapsedNs, sendNs } = await stream
    await sleep(KILL_DRAIN_MS)
    for (const state of states) {
      const record = await state.worker.call<CollectResult>('collect', { timeoutMs: 0 }, 60_000)
      state.tally = tallyStream(record.seqs ?? [], pacedArgs.seqStart, sent)
      state.across = acrossKills(state.kills, { seqs: record.seqs ?? [], sentNs: record.sentNs ?? [], emitNs: record.emitNs ?? [] })
      state.lastEvents = (await state.worker.call<{ last: string[] }>('events').catch(() => ({ last: [] as string[] }))).last
      context.log(
        `recovery kill ${state.peer}: lost ${state.tally.lost} of ${sent}, ${state.tally.duplicates} duplicate(s); per kill: ` +
          state.across.map((across) => `first delivery ${formatNumber(across.firstDeliveryMs)} ms (sent at ${formatNumber(across.firstSentMs)} ms), ${across.lost} lost`).join('; '),
      )
    }
    const senderDelayMs = states.flatMap((state) => state.kills.map((kill) => ((sendNs.find((ns) => ns >= kill.terminatedNs) ?? Number.NaN) - kill.killNs) / 1e6))
    return { kills, sent, streamMs: elapsedNs / 1e6, senderDelayMs, states }
  } finally {
    if (stream !== undefined) {
      await sender?.call('stopPaced').catch(() => undefined)
      await stream.catch(() => undefined)
    }
    for (const state of states) await state.worker.stop()
    await sender?.stop()
    await admin.end().catch(() => undefined)
  }
}

/**
 * Terminates the receiver's listening backend and waits for its first delivery of a notification sent after
 * pg_terminate_backend returned (which the killed backend can no longer have delivered: a backend acts on its
 * SIGTERM before it reads the notification queue again). The figures come from the record afterwards; this
 * wait only spaces the kills, and its time is for the log.
 */
async function killListeningBackend(admin: pg.Client, state: KillState): Promise<KillState['kills'][number] & { readonly firstDeliveryMs: number }> {
  const pid = await findListeningBackend(admin, state)
  const killNs = nowNs()
  const { rows } = await admin.query<{ terminated: boolean }>('SELECT pg_terminate_backend($1) AS terminated', [pid])
  const terminatedNs = nowNs()
  if (rows[0]?.terminated !== true) throw new Error(`pg_terminate_backend(${pid}) did not terminate ${state.peer}'s listening backend`)
  const firstNs = await state.worker.call<number | null>('firstFrom', { sentFromNs: terminatedNs, timeoutMs: KILL_BOUND_MS }, KILL_BOUND_MS + 5000)
  return { pid, killNs, terminatedNs, recovered: firstNs !== null, firstDeliveryMs: firstNs === null ? Number.NaN : (firstNs - killNs) / 1e6 }
}

/** Polls pg_stat_activity until the receiver's listening backend is there (a receiver may still be reconnecting). */
async function findListeningBackend(admin: pg.Client, state: KillState): Promise<number> {
  const deadline = Date.now() + KILL_BOUND_MS
  for (;;) {
    const { rows } = await admin.query<{ pid: number; query: string }>(
      "SELECT pid, query FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend' AND NOT (pid = ANY($2::int[]))",
      [state.applicationName, state.kills.map((kill) => kill.pid)],
    )
    const pid = pickListeningBackend(rows)
    if (pid !== undefined) return pid
    if (Date.now() > deadline) {
      throw new Error(`cannot tell ${state.peer}'s listening backend (application_name ${state.applicationName}) from pg_stat_activity: ${JSON.stringify(rows)}`)
    }
    await sleep(BACKEND_LOOKUP_EVERY_MS)
  }
}

/**
 * Which of one receiver's backends (all with its application_name) is the listening one, from their last
 * statements; undefined when none or several could be. Every library here opens only its listening connection,
 * except rxpg, which also opens a sending one (its self-probe and notify()) whose statements are all
 * pg_notify; rxpg's listening connection last ran a LISTEN or its health check, pg_listening_channels().
 */
export function pickListeningBackend(backends: ReadonlyArray<{ readonly pid: number; readonly query: string }>): number | undefined {
  const notSending = backends.filter((backend) => !/notify/i.test(backend.query))
  if (notSending.length <= 1) return notSending[0]?.pid
  const listening = notSending.filter((backend) => /listen/i.test(backend.query))
  return listening.length === 1 ? listening[0]?.pid : undefined
}

/** `url` with `application_name` set: pg, pg-listen (through pg) and postgres.js all pass it to the server. */
export function withApplicationName(url: string, name: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('application_name', name)
  return parsed.href
}

function killReport(figures: KillFigures): { table: Table; targets: TargetCheck[]; raw: unknown } {
  // Kill i of every library happened in round i: NaN where nothing sent after it arrived.
  const timesOf = (state: KillState) => state.across.map((across) => across.firstDeliveryMs)
  const summaryOf = (state: KillState) => summarize(timesOf(state))
  const recovering = figures.states.filter((state) => state.across.length > 0 && state.across.every((across) => Number.isFinite(across.firstDeliveryMs)))
  const fastest = recovering.reduce<KillState | undefined>((best, state) => (best === undefined || summaryOf(state).median < summaryOf(best).median ? state : best), undefined)
  const rows = figures.states.map((state) => {
    const summary = summaryOf(state)
    const never = timesOf(state).findIndex((ms) => !Number.isFinite(ms))
    const tally = state.tally
    return [
      PEER_LABELS[state.peer] ?? state.peer,
      never >= 0 ? `never recovers (nothing sent after kill ${never + 1} arrived)` : formatNumber(summary.median),
      formatNumber(quantile(summary.values, 0.9)),
      formatNumber(summary.max),
      // Per-round ratios, as elsewhere in the report.
      fastest === undefined || never >= 0 ? '–' : formatRatio(summarize(pairedRatios(timesOf(state), timesOf(fastest))).median),
      tally === undefined ? '–' : tally.lost.toLocaleString('en-US'),
      tally === undefined ? '–' : `${formatNumber((100 * tally.lost) / Math.max(1, tally.sent))}%`,
      formatNumber(summarize(state.across.map((across) => across.lost)).median),
      tally === undefined ? '–' : tally.duplicates.toLocaleString('en-US'),
      String(state.kills.length),
    ]
  })
  const rxpg = figures.states.find((state) => state.peer === 'rxpg')
  const rxpgSummary = rxpg === undefined ? undefined : summaryOf(rxpg)
  const rxpgRecovers = rxpg !== undefined && recovering.includes(rxpg)
  const medians = recovering
    .map((state) => ({ label: PEER_LABELS[state.peer] ?? state.peer, median: summaryOf(state).median }))
    .sort((a, b) => a.median - b.median)
    .map((entry) => `${entry.label} ${formatNumber(entry.median)}`)
    .join(', ')
  const targets: TargetCheck[] = [
    {
      target: `kill → first delivery median ≤ 10 ms (listening backend killed under ${KILL_RATE.toLocaleString('en-US')} msg/s)`,
      measured:
        rxpgSummary === undefined || rxpgSummary.n === 0
          ? 'rxpg: not measured'
          : `rxpg ${formatNumber(rxpgSummary.median)} ms (p90 ${formatNumber(quantile(rxpgSummary.values, 0.9))}, max ${formatNumber(rxpgSummary.max)}) over ${rxpgSummary.n} kills${rxpgRecovers ? '' : ', and a kill it never recovered from'}`,
      met: rxpgSummary === undefined || rxpgSummary.n === 0 ? null : rxpgRecovers && rxpgSummary.median <= 10,
    },
    {
      target: 'fastest library from backend kill to first delivery (median)',
      measured: medians === '' ? 'not measured' : `${medians} ms`,
      met: fastest === undefined ? null : fastest === rxpg,
    },
  ]
  const senderDelay = summarize(figures.senderDelayMs)
  const table: Table = {
    title: `(b) Listening backend killed with pg_terminate_backend under ${KILL_RATE.toLocaleString('en-US')} msg/s, ${figures.kills} kills per library`,
    headers: ['library', 'kill → first delivery ms, median', 'p90', 'max', 'median × fastest', 'lost', 'lost %', 'lost per kill, median', 'duplicates', 'kills'],
    rows,
    note:
      `One stream of ${figures.sent.toLocaleString('en-US')} notifications over ${formatNumber(figures.streamMs / 1000)} s (one statement each), every receiver subscribed before the first and to the end: "lost" is what never arrived of the whole stream, "duplicates" deliveries beyond the first of a notification. ` +
      "Kill → first delivery: from right before `pg_terminate_backend` is sent to the subscriber's first notification among those sent after it returned; median, p90 and max over the kills. " +
      `It includes the statement's round trip and the wait for the sender's next notification: median ${formatNumber(senderDelay.median)} ms, max ${formatNumber(senderDelay.max)} ms from a kill (0.5 ms apart when the sender keeps pace; a busy machine stalls it now and then). ` +
      '"× fastest": median of per-round ratios to the library with the lowest median.',
  }
  const raw = {
    rate: KILL_RATE,
    kills: figures.kills,
    sent: figures.sent,
    streamMs: figures.streamMs,
    settleMs: KILL_SETTLE_MS,
    boundMs: KILL_BOUND_MS,
    senderDelayMs: figures.senderDelayMs,
    peers: figures.states.map((state) => ({ peer: state.peer, kills: state.kills, acrossKills: state.across, tally: state.tally, events: state.lastEvents })),
  }
  return { table, targets, raw }
}

/** Polls a raw connection until one succeeds; resolves with the time (ns) it did. */
async function firstConnect(url: string, limitMs: number): Promise<number> {
  const started = Date.now()
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
    client.on('error', () => undefined)
    try {
      await client.connect()
      const at = nowNs()
      await client.end().catch(() => undefined)
      return at
    } catch {
      await client.end().catch(() => undefined)
      if (Date.now() - started > limitMs) throw new Error(`the server did not accept connections within ${limitMs} ms`)
      await sleep(PING_EVERY_MS)
    }
  }
}

/** Pings every channel every PING_EVERY_MS (seq counting up from `base`) until `done()` says stop. */
async function pingUntil(sender: Worker, url: string, channels: string[], base: number, done: () => boolean, limitMs: number): Promise<void> {
  const started = Date.now()
  let seq = base
  while (!done() && Date.now() - started < limitMs) {
    const tick = sleep(PING_EVERY_MS)
    await sender.call('ping', { url, channels, seq: seq++ }, 5000).catch(() => undefined)
    await tick
  }
}

/** Part (a): the server stopped and started again, every library listening on a channel of its own. */
async function serverOutages(context: BenchContext, server: EmbeddedServer): Promise<OutageFigures> {
  const outages = context.quick ? 1 : 3
  const boundMs = context.quick ? 8_000 : 30_000
  const states: PeerState[] = []
  let sender: Worker | undefined
  try {
    sender = await startSender(context, server.url)
    for (const peer of PEERS) {
      const channel = `bench_recover_${peer}`
      const { worker } = await startReceiver(context, peer, { prefix: channel, count: 1 }, { url: server.url })
      states.push({ peer, worker, channel: channel + '0', times: [], alive: true, lastEvents: [], eventCount: 0 })
    }
    for (let outage = 1; outage <= outages; outage++) {
      const base = outage * 10_000_000
      // Everyone still alive receives before the outage.
      const live = states.filter((state) => state.alive)
      let settled = 0
      const before = live.map((state) =>
        state.worker.call<number | null>('firstFrom', { minSeq: base - 5_000_000, timeoutMs: 10_000 }, 15_000).finally(() => (settled += 1)),
      )
      await pingUntil(sender, server.url, live.map((state) => state.channel), base - 5_000_000, () => settled === live.length, 12_000)
      const receivedBefore = await Promise.all(before)
      live.forEach((state, index) => {
        if (receivedBefore[index] === null) state.alive = false
      })

      context.log(`recovery outage ${outage}/${outages}: stopping the server for ${OUTAGE_MS / 1000} s`)
      await server.stop()
      await sleep(OUTAGE_MS)
      const starting = server.start()
      const t0 = await firstConnect(server.url, 60_000)
      await starting
      const waiting = states.filter((state) => state.alive)
      let recovered = 0
      const firsts = waiting.map((state) =>
        state.worker.call<number | null>('firstFrom', { minSeq: base, timeoutMs: boundMs }, boundMs + 5000).finally(() => (recovered += 1)),
      )
      await pingUntil(sender, server.url, waiting.map((state) => state.channel), base, () => recovered === waiting.length, boundMs + 2000)
      const results = await Promise.all(firsts)
      waiting.forEach((state, index) => {
        const at = results[index]
        const ms = at === null || at === undefined ? null : (at - t0) / 1e6
        state.times.push(ms)
        if (ms === null) state.alive = false
        context.log(`recovery outage ${outage}/${outages} ${state.peer}: ${ms === null ? `no notification within ${boundMs / 1000} s` : `${formatNumber(ms)} ms`}`)
      })
    }
    for (const state of states) {
      const events = await state.worker.call<{ count: number; last: string[] }>('events').catch(() => ({ count: 0, last: [] as string[] }))
      state.lastEvents = events.last
      state.eventCount = events.count
    }
    return { outages, boundMs, states }
  } finally {
    for (const state of states) await state.worker.stop()
    await sender?.stop()
  }
}

function outageReport({ outages, boundMs, states }: OutageFigures): { table: Table; targets: TargetCheck[]; raw: Record<string, unknown> } {
  const rows = states.map((state) => {
    const measured = state.times.filter((time): time is number => time !== null)
    const summary = summarize(measured)
    const never = state.times.includes(null)
    const verdict = never
      ? `never recovers (no notification within ${boundMs / 1000} s of outage ${state.times.indexOf(null) + 1})`
      : `${formatNumber(summary.median)} (${formatNumber(summary.min)}–${formatNumber(summary.max)})`
    const lastError = never ? [...state.lastEvents].reverse().find((event) => /error|fail|Stopping/i.test(event)) : undefined
    return [
      PEER_LABELS[state.peer] ?? state.peer,
      verdict,
      state.times.map((time) => (time === null ? '✗' : formatNumber(time))).join(', ') + (state.times.length < outages ? ' (not retried)' : ''),
      lastError ? lastError.replace(/^\S+ /, '').slice(0, 140) : '',
    ]
  })
  const rxpgTimes = states.find((state) => state.peer === 'rxpg')?.times ?? []
  const targets: TargetCheck[] = [
    {
      target: 'recovery within 3 s every time',
      measured: `rxpg: ${rxpgTimes.map((time) => (time === null ? 'never' : `${formatNumber(time)} ms`)).join(', ')}`,
      met: rxpgTimes.length === 0 ? null : rxpgTimes.every((time) => time !== null && time <= 3000),
    },
  ]
  const table: Table = {
    title: `(a) Server stopped for ${OUTAGE_MS / 1000} s and started again, ${outages} time(s)`,
    headers: ['library', 'recovery ms, median (min–max)', 'each outage (ms)', 'why (last error it reported)'],
    rows,
    note:
      `Every library on a channel of its own. The server is stopped (fast shutdown) for ${OUTAGE_MS / 1000} s and started again. ` +
      `t0 is the instant a raw connection first succeeds (polled every ${PING_EVERY_MS} ms); from t0 the sender notifies every channel every ${PING_EVERY_MS} ms, and the figure is t(first post-outage notification in the subscriber) − t0, in ms ` +
      `(so up to ~${PING_EVERY_MS} ms of it is the ping interval). A library that gets nothing within ${boundMs / 1000} s is recorded as not recovering and is not waited for again.`,
  }
  const raw = { outages, boundMs, peers: states.map((state) => ({ peer: state.peer, times: state.times, events: state.lastEvents, eventCount: state.eventCount })) }
  return { table, targets, raw }
}

export type { BenchContext }
