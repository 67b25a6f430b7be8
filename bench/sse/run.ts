/**
 * `npm run bench:sse`: rxpg/sse under load. One server process (one Node process, one PgListener, so one
 * listening connection, and a durable channel through `durableSource`), clients in two other processes, a
 * writer in this one. A full run writes the "Server-sent events" section of bench/RESULTS.md (between its
 * markers; the other sections are left alone) and bench/sse/results.json.
 *
 *   BENCH_QUICK=1          small sizes (100 and 1,000 clients, 200 disconnects); writes to bench/.runs/ instead
 *   BENCH_ONLY=fanout,slow,disconnects   some sections
 *   --render               no run: writes the section again from bench/sse/results.json
 *
 * Knobs for investigating the fan-out (a run with any of them is partial: it writes to bench/.runs/):
 *   BENCH_SSE_SIZES=100,1000     client counts of the fan-out section
 *   BENCH_SSE_RATE=100000        paced deliveries/s in total (events/s = rate / clients)
 *   BENCH_SSE_SECONDS=5          length of the paced phase
 *   BENCH_SSE_BURST=0            skips the burst
 *   BENCH_SSE_PROFILE=1 / BENCH_SSE_PROFILE_CLIENTS=1   --cpu-prof of the server / the client processes, in bench/.runs/
 *   BENCH_SSE_TRACE=1            decomposes the paced latency: append call → commit (harness), → the durable
 *                                reader's emission in the server, → the synchronous fan-out done, → the
 *                                sockets' writes done (the tick after), → each client's parse
 *
 * Figures:
 * - fan-out at N clients: memory per idle client (server RSS and heap after GC, before/after N idle streams);
 *   a paced rate (100,000 deliveries/s in total: 100 events/s to 1,000 clients, 10 to 10,000) with latency
 *   from the writer's append call to each client's parse (an upper bound of commit → client: it includes the
 *   commit); and a burst (2,000,000 deliveries at once) for the delivery capacity, events/s delivered;
 * - slow clients: streams that stop reading while 1 KiB events flow until each is cut off, the peak of the
 *   server's memory per slow client meanwhile;
 * - forced disconnects: clients' sockets destroyed mid-stream 1,000 times while events flow; every client
 *   must end with exactly the sequence written, resuming with Last-Event-ID.
 */
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog } from '../../lib/durable/index.js'
import { readFile, writeFile } from 'node:fs/promises'
import { spliceSection, writeRunOutputs, SSE_END, SSE_START } from '../report.js'
import { benchDatabase } from '../support/database.js'
import { machineInfo } from '../support/machine.js'
import { Worker } from '../support/worker.js'
import { LatencyHistogram } from './latency-histogram.js'
import { render, type DisconnectResult, type FanoutResult, type SlowResult, type SseRecord } from './report.js'

const HARD_LIMIT_MS = 40 * 60_000
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const quick = process.env.BENCH_QUICK === '1'
const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter(Boolean)
const numbers = (text: string | undefined) => text?.split(',').map(Number).filter((value) => Number.isFinite(value) && value > 0)
const knobs = {
  sizes: numbers(process.env.BENCH_SSE_SIZES),
  rate: numbers(process.env.BENCH_SSE_RATE)?.[0],
  seconds: numbers(process.env.BENCH_SSE_SECONDS)?.[0],
  burst: process.env.BENCH_SSE_BURST !== '0',
  trace: process.env.BENCH_SSE_TRACE === '1',
}
const tuned = process.env.BENCH_SSE_SIZES !== undefined || process.env.BENCH_SSE_RATE !== undefined || process.env.BENCH_SSE_SECONDS !== undefined || !knobs.burst || knobs.trace
const started = Date.now()
const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => performance.timeOrigin + performance.now()
const KiB = 1024

interface Tally {
  readonly received: number
  readonly complete: number
  readonly lost: number
  readonly duplicated: number
  readonly reconnects: number
  readonly latencies: Array<[number, number]>
}

/** A fresh schema, a server process, two client processes and a writer: one scenario's world. */
async function world(url: string, name: string, options: { drainTimeout?: number } = {}) {
  const schema = `bench_sse_${name}_${process.pid}`
  const listener = createPgListener(url)
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on('error', () => undefined)
  const writer = createDurableLog({ listener, pool, schema, stall: false })
  await writer.ensureSchema()
  const profile = process.env.BENCH_SSE_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${here('../.runs/profiles')}`] : []
  const server = await Worker.start(here('./server.ts'), 'sse-server', { nodeFlags: ['--expose-gc', '--max-old-space-size=6144', ...profile], lifeLimitMs: 20 * 60_000 })
  const { port } = await server.call<{ port: number }>('start', { url, schema, channel: 'bench', maxBufferedBytes: 512 * KiB, drainTimeout: options.drainTimeout ?? 20_000 })
  const clientProfile = process.env.BENCH_SSE_PROFILE_CLIENTS === '1' ? ['--cpu-prof', `--cpu-prof-dir=${here('../.runs/profiles-clients')}`] : []
  const clients = await Promise.all([0, 1].map((index) => Worker.start(here('./clients.ts'), `sse-clients-${index}`, { nodeFlags: clientProfile, lifeLimitMs: 20 * 60_000 })))
  const eventsUrl = `http://127.0.0.1:${port}/events`
  let seq = 0
  return {
    server,
    clients,
    writer,
    /** Opens `count` streams, split over the client processes, in waves (the listen backlog is finite). */
    async open(count: number, slow = false) {
      const wave = 500
      for (let opened = 0; opened < count; opened += wave) {
        const size = Math.min(wave, count - opened)
        await Promise.all(clients.map((client, index) => client.call('open', { url: eventsUrl, count: Math.floor(size / 2) + (index === 0 ? size % 2 : 0), slow })))
        await sleep(20)
      }
      await until(async () => (await sum(clients, 'ready')) >= count, 120_000, () => `${count} streams ready`)
    },
    /** Appends `count` events now (batched by append$), each stamped with the time of the call. */
    append(count: number) {
      for (let index = 0; index < count; index++) writer.append$.next({ channel: 'bench', value: { seq: seq++, t: now() } })
    },
    /** Like append, and records append call → commit (the promise of `append`, which rides the same batches). */
    appendTraced(count: number, commits: LatencyHistogram) {
      for (let index = 0; index < count; index++) {
        const t = now()
        void writer.append('bench', { seq: seq++, t }).then(() => commits.record(now() - t))
      }
    },
    /** Appends ~1 KiB events. */
    appendPadded(count: number) {
      for (let index = 0; index < count; index++) writer.append$.next({ channel: 'bench', value: { seq: seq++, t: now(), pad: 'p'.repeat(1000) } })
    },
    get written() {
      return seq
    },
    async tally(): Promise<Tally & { histogram: LatencyHistogram }> {
      const parts = await Promise.all(clients.map((client) => client.call<Tally>('tally', { expected: seq }, 120_000)))
      const histogram = new LatencyHistogram()
      for (const part of parts) histogram.add(part.latencies)
      const total = (key: keyof Omit<Tally, 'latencies'>) => parts.reduce((acc, part) => acc + part[key], 0)
      return { received: total('received'), complete: total('complete'), lost: total('lost'), duplicated: total('duplicated'), reconnects: total('reconnects'), latencies: [], histogram }
    },
    async close() {
      await Promise.all(clients.map((client) => client.stop()))
      await server.stop(30_000)
      await writer.close()
      await listener.close()
      await pool.end()
      await dropSchema(url, schema)
    },
  }
}

type World = Awaited<ReturnType<typeof world>>

/** CPU time (µs) the server and the client processes have used so far. */
async function cpuNow(w: World): Promise<{ server: number; clients: number }> {
  return { server: await w.server.call<number>('cpu'), clients: await sum(w.clients, 'cpu') }
}

/** CPU µs per delivery since `since`, in the server and in the clients: what a delivery costs whatever else the machine runs. */
async function cpuPerDelivery(w: World, since: { server: number; clients: number }, deliveries: number): Promise<{ serverCpu: number; clientCpu: number }> {
  const current = await cpuNow(w)
  return { serverCpu: (current.server - since.server) / deliveries, clientCpu: (current.clients - since.clients) / deliveries }
}

async function sum(workers: readonly Worker[], op: string): Promise<number> {
  return (await Promise.all(workers.map((worker) => worker.call<number>(op)))).reduce((a, b) => a + b, 0)
}

async function until(check: () => Promise<boolean>, limitMs: number, what: () => string): Promise<void> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > limitMs) throw new Error(`not reached within ${limitMs} ms: ${what()}`)
    await sleep(50)
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
  await client.end()
}

interface Memory {
  readonly rss: number
  readonly heapUsed: number
}

async function fanout(url: string, size: number): Promise<FanoutResult> {
  log(`fan-out: ${size} clients`)
  const w = await world(url, `fanout${size}`)
  try {
    const before = await w.server.call<Memory>('memory')
    await w.open(size)
    const idle = await w.server.call<Memory>('memory')
    const idlePerClient = { rss: (idle.rss - before.rss) / size, heap: (idle.heapUsed - before.heapUsed) / size }
    log(`  ${size} idle streams: ${(idlePerClient.rss / KiB).toFixed(1)} KiB RSS, ${(idlePerClient.heap / KiB).toFixed(1)} KiB heap each`)

    // Paced: 100,000 deliveries a second in all, events spread evenly over 10 ms ticks.
    const rate = (knobs.rate ?? 100_000) / size
    const seconds = knobs.seconds ?? (quick ? 5 : 15)
    const commits = new LatencyHistogram()
    await Promise.all(w.clients.map((client) => client.call('resetWindow')))
    if (knobs.trace) await w.server.call('resetTrace')
    const pacedCpu = await cpuNow(w)
    const pacedStart = Date.now()
    const firstSeq = w.written
    // Every ~10 ms, what the rate owes since the start (timers run late on a busy machine: the rate holds anyway).
    while (Date.now() - pacedStart < seconds * 1000) {
      const owed = Math.floor((rate * (Date.now() - pacedStart)) / 1000) - (w.written - firstSeq)
      if (knobs.trace) w.appendTraced(owed, commits)
      else w.append(owed)
      await sleep(10)
    }
    const expected = w.written
    await until(async () => (await w.tally()).complete >= size, 60_000, () => `all ${size} clients have the paced events`)
    const paced = await w.tally()
    const pacedCost = await cpuPerDelivery(w, pacedCpu, paced.received)
    const pacedResult = {
      ...pacedCost,
      rate,
      seconds,
      delivered: paced.received,
      deliveredPerSecond: paced.received / seconds,
      p50: paced.histogram.quantile(0.5),
      p99: paced.histogram.quantile(0.99),
      max: paced.histogram.quantile(1),
    }
    log(`  paced ${rate}/s × ${size}: ${Math.round(pacedResult.deliveredPerSecond)} delivered/s, p50 ${pacedResult.p50} ms, p99 ${pacedResult.p99} ms (${expected} events); CPU per delivery: server ${pacedCost.serverCpu.toFixed(2)} µs, clients ${pacedCost.clientCpu.toFixed(2)} µs`)
    if (knobs.trace) {
      const trace = await w.server.call<Record<string, Array<[number, number]>>>('trace')
      const stages: Array<[string, LatencyHistogram]> = [['commit (harness)', commits]]
      for (const [stage, entries] of Object.entries(trace)) {
        const histogram = new LatencyHistogram()
        histogram.add(entries)
        stages.push([stage, histogram])
      }
      stages.push(['client parse', paced.histogram])
      for (const [stage, histogram] of stages) log(`    append → ${stage.padEnd(18)} p50 ${histogram.quantile(0.5)} ms, p90 ${histogram.quantile(0.9)} ms, p99 ${histogram.quantile(0.99)} ms, max ${histogram.quantile(1)} ms (${histogram.total})`)
    }

    if (!knobs.burst) return { clients: size, idlePerClient, paced: pacedResult, burst: { serverCpu: 0, clientCpu: 0, events: 0, deliveries: 0, seconds: 0, deliveredPerSecond: 0, p50: 0, p99: 0 }, lost: paced.lost, duplicated: paced.duplicated }
    // Burst: 2,000,000 deliveries appended at once; the time until every client has them all.
    await Promise.all(w.clients.map((client) => client.call('resetWindow')))
    const events = Math.round(2_000_000 / size)
    const burstCpu = await cpuNow(w)
    const burstStart = now()
    w.append(events)
    await until(async () => (await sum(w.clients, 'received')) >= events * size, 300_000, () => `burst delivered`)
    const burstSeconds = (now() - burstStart) / 1000
    const burst = await w.tally()
    const burstCost = await cpuPerDelivery(w, burstCpu, events * size)
    const burstResult = { ...burstCost, events, deliveries: events * size, seconds: burstSeconds, deliveredPerSecond: (events * size) / burstSeconds, p50: burst.histogram.quantile(0.5), p99: burst.histogram.quantile(0.99) }
    log(`  burst ${events} events × ${size}: ${Math.round(burstResult.deliveredPerSecond)} delivered/s (${burstSeconds.toFixed(2)} s); CPU per delivery: server ${burstCost.serverCpu.toFixed(2)} µs, clients ${burstCost.clientCpu.toFixed(2)} µs`)
    return { clients: size, idlePerClient, paced: pacedResult, burst: burstResult, lost: burst.lost, duplicated: burst.duplicated }
  } finally {
    await w.close()
  }
}

async function slowClients(url: string): Promise<SlowResult> {
  const size = quick ? 20 : 200
  const limitMs = 180_000
  log(`slow clients: ${size}`)
  const w = await world(url, 'slow', { drainTimeout: 15_000 })
  try {
    const before = await w.server.call<Memory>('memory')
    await w.open(size, true)
    // 1 KiB events keep coming until every slow stream is cut off. The kernel takes several MB per connection
    // before Node's write() says to wait (loopback buffers grow to fit), so how long that takes depends on how
    // fast the server gets them out; the server's memory is sampled all along and its peak reported.
    const start = Date.now()
    let peak = before
    let sampled = 0
    let stats = await w.server.call<{ ended: { slow: number }; maxHeldBytes: number }>('stats')
    while (stats.ended.slow < size && Date.now() - start < limitMs) {
      w.appendPadded(20)
      await sleep(20)
      if (Date.now() - sampled > 2000) {
        sampled = Date.now()
        const memory = await w.server.call<Memory>('memory')
        if (memory.rss > peak.rss) peak = { rss: memory.rss, heapUsed: Math.max(memory.heapUsed, peak.heapUsed) }
        else if (memory.heapUsed > peak.heapUsed) peak = { rss: peak.rss, heapUsed: memory.heapUsed }
      }
      stats = await w.server.call<{ ended: { slow: number }; maxHeldBytes: number }>('stats')
    }
    const seconds = (Date.now() - start) / 1000
    const perClient = { rss: (peak.rss - before.rss) / size, heap: (peak.heapUsed - before.heapUsed) / size }
    log(`  ${size} slow streams, peak server memory: ${(perClient.rss / KiB).toFixed(0)} KiB RSS, ${(perClient.heap / KiB).toFixed(0)} KiB heap each`)
    log(`  cut off: ${stats.ended.slow} of ${size} within ${seconds.toFixed(0)} s; most held by one: ${(stats.maxHeldBytes / KiB).toFixed(0)} KiB`)
    return { clients: size, perClient, maxHeldBytes: stats.maxHeldBytes, cutOff: stats.ended.slow, seconds, pausedBeforeCut: stats.maxHeldBytes <= 512 * KiB + 2 * KiB }
  } finally {
    await w.close()
  }
}

async function disconnects(url: string): Promise<DisconnectResult> {
  const size = quick ? 200 : 1000
  const cuts = quick ? 200 : 1000
  log(`forced disconnects: ${cuts} over ${size} clients`)
  const w = await world(url, 'cuts')
  try {
    await w.open(size)
    const ticks = quick ? 60 : 200
    let done = 0
    for (let tick = 0; tick < ticks; tick++) {
      w.append(2)
      const count = Math.round(((tick + 1) * cuts) / ticks) - done
      done += count
      await Promise.all(w.clients.map((client, index) => client.call('cut', { count: Math.floor(count / 2) + (index === 0 ? count % 2 : 0) })))
      await sleep(100)
    }
    await until(async () => (await w.tally()).complete >= size, 120_000, () => 'every client has every event')
    const tally = await w.tally()
    log(`  ${done} cuts, ${tally.reconnects} reconnections, ${w.written} events: lost ${tally.lost}, duplicated ${tally.duplicated}`)
    return { clients: size, cuts: done, events: w.written, reconnects: tally.reconnects, complete: tally.complete, lost: tally.lost, duplicated: tally.duplicated }
  } finally {
    await w.close()
  }
}

async function main(): Promise<void> {
  const benchDir = fileURLToPath(new URL('..', import.meta.url))
  if (process.argv.includes('--render')) {
    // The section again from the recorded figures (a change of wording), no run.
    const record = JSON.parse(await readFile(here('./results.json'), 'utf8')) as SseRecord
    const file = here('../RESULTS.md')
    await writeFile(file, spliceSection(await readFile(file, 'utf8'), render(record), { start: SSE_START, end: SSE_END }))
    return log('rendered the sse section of bench/RESULTS.md from bench/sse/results.json')
  }
  const partial = quick || only !== undefined || tuned
  const hardLimit = setTimeout(() => {
    console.error(`bench:sse: hard limit of ${HARD_LIMIT_MS / 60_000} min reached, exiting`)
    process.exit(2)
  }, HARD_LIMIT_MS)
  const database = await benchDatabase()
  try {
    const machine = await machineInfo(database.url)
    log(`${machine.cpuModel}, ${machine.cores} cores; load ${machine.loadAverageAtStart.join(' ')}; ${machine.postgres}`)
    const wants = (name: string) => only === undefined || only.includes(name)
    const fanoutResults: FanoutResult[] = []
    if (wants('fanout')) for (const size of knobs.sizes ?? (quick ? [100, 1000] : [1000, 10_000])) fanoutResults.push(await fanout(database.url, size))
    const slow = wants('slow') ? await slowClients(database.url) : undefined
    const cuts = wants('disconnects') ? await disconnects(database.url) : undefined
    const record: SseRecord = { machine, quick, totalMs: Date.now() - started, fanout: fanoutResults, slow, disconnects: cuts }
    await writeRunOutputs({ benchDir, name: 'sse', partial, record, section: render(record), markers: { start: SSE_START, end: SSE_END }, log })
  } finally {
    clearTimeout(hardLimit)
    await database.release()
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)

