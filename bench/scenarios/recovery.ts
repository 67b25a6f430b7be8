/**
 * Scenario 6, recovery: a dedicated embedded PostgreSQL is stopped for 5 s and started again, with every
 * library listening (each in its own process, on its own channel). t0 is the instant a raw connection to the
 * restarted server first succeeds (polled every 10 ms); from t0 a sender notifies every channel every 10 ms,
 * and each receiver reports when its first post-outage notification reached the subscriber.
 */
import pg from 'pg'
import { PEER_LABELS } from '../peers/types.js'
import { nowNs } from '../support/payload.js'
import { formatNumber, summarize } from '../support/stats.js'
import type { Worker } from '../support/worker.js'
import { sleep, startReceiver, startSender, type BenchContext, type ScenarioResult, type TargetCheck } from './common.js'

const PEERS = ['pg', 'pg-reconnect', 'pg-listen', 'pg-listen-no-timeout', 'postgres', 'rxpg'] as const
const OUTAGE_MS = 5000
const PING_EVERY_MS = 10

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

export async function recovery(context: BenchContext): Promise<ScenarioResult> {
  const outages = context.quick ? 1 : 3
  const boundMs = context.quick ? 8_000 : 30_000
  const { startEmbeddedServer } = await import('../../support/embedded-server.js')
  const server = await startEmbeddedServer()
  const states: PeerState[] = []
  let sender: Worker | undefined
  const t0s: number[] = []
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
      t0s.push(t0)
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
  } finally {
    for (const state of states) await state.worker.stop()
    await sender?.stop()
    await server.destroy()
  }

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
  const rxpg = states.find((state) => state.peer === 'rxpg')
  const rxpgTimes = rxpg?.times ?? []
  const targets: TargetCheck[] = [
    {
      target: 'recovery within 3 s every time',
      measured: `rxpg: ${rxpgTimes.map((time) => (time === null ? 'never' : `${formatNumber(time)} ms`)).join(', ')}`,
      met: rxpgTimes.length === 0 ? null : rxpgTimes.every((time) => time !== null && time <= 3000),
    },
  ]
  return {
    id: 'recovery',
    title: '6. Recovery',
    method:
      `A dedicated embedded PostgreSQL (not the shared one) with every library listening at once, each in its own process on its own channel. The server is stopped (fast shutdown) for ${OUTAGE_MS / 1000} s and started again, ${outages} time(s). ` +
      `t0 is the instant a raw connection first succeeds (polled every ${PING_EVERY_MS} ms); from t0 the sender notifies every channel every ${PING_EVERY_MS} ms, and the figure is t(first post-outage notification in the subscriber) − t0, in ms ` +
      `(so up to ~${PING_EVERY_MS} ms of it is the ping interval). A library that gets nothing within ${boundMs / 1000} s is recorded as not recovering and is not waited for again. ` +
      'pg: a plain `pg.Client` with an `error` handler, as its docs show (pg does not reconnect); "pg + hand-written reconnect": a new client every second after `error`/`end`, then LISTEN again. pg-listen: default options (retryTimeout 3000 ms) and with `retryTimeout: 0`. Default options for postgres.js and rxpg.',
    tables: [{ headers: ['library', 'recovery ms, median (min–max)', 'each outage (ms)', 'why (last error it reported)'], rows }],
    chart: [],
    targets,
    raw: { outages, boundMs, peers: states.map((state) => ({ peer: state.peer, times: state.times, events: state.lastEvents, eventCount: state.eventCount })) },
  }
}

export type { BenchContext }
