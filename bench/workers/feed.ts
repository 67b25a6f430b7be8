/**
 * A feed process: one way of watching the table (bench/feeds), counting and timing what it delivers, or, in
 * ledger mode, committing an effect per row (its id, into a ledger table of its own) the way a user with
 * exactly-once needs would: rxpg stores each position with its effect and resumes after the stored one; the
 * others do what their README allows. Its CPU time and heap are its own.
 */
import pg from 'pg'
import { feedFactory } from '../feeds/index.js'
import type { Feed, FeedHandle } from '../feeds/types.js'
import { nowNs } from '../support/payload.js'
import { serveWorker } from '../support/worker.js'

interface Armed {
  readonly target: number
  readonly latenciesMs: Float64Array | undefined
  count: number
  startNs: number
  startCpu: NodeJS.CpuUsage | undefined
  endNs: number
  cpuUs: number
  done: (() => void) | undefined
}

export interface StartArgs {
  readonly feed: Feed
  readonly url: string
  readonly slot: string
  /** `ledger`: commit each row's id (and, for rxpg, its position) into `ledger_<feed>`; resume from there. */
  readonly mode: 'count' | 'ledger'
}

export interface CollectResult {
  readonly received: number
  readonly elapsedNs: number
  readonly cpuUs: number
  readonly timedOut: boolean
  /** Emission time minus the send time the row carries, ms (when armed with `timed`). */
  readonly latenciesMs?: number[]
}

export interface HeapResult {
  readonly before: number
  readonly max: number
  readonly samples: number
}

let feed: FeedHandle | undefined
let armed: Armed | undefined
const events: string[] = []
let heap: { before: number; max: number; samples: number; timer: NodeJS.Timeout } | undefined

function onRow(_id: number, sentNs: number): void {
  const run = armed
  if (run === undefined || run.count >= run.target) return
  if (run.count === 0) {
    run.startNs = nowNs()
    run.startCpu = process.cpuUsage()
  }
  if (run.latenciesMs !== undefined) run.latenciesMs[run.count] = (nowNs() - sentNs) / 1e6
  run.count += 1
  if (run.count === run.target) {
    const cpu = process.cpuUsage(run.startCpu)
    run.cpuUs = cpu.user + cpu.system
    run.endNs = nowNs()
    run.done?.()
  }
}

/** Ledger mode: the row's effect, committed with the position where the feed has one. */
async function ledgerEffect(client: pg.Client, name: string, id: number, position: string | undefined): Promise<void> {
  await client.query('BEGIN')
  if (id >= 0) await client.query(`INSERT INTO ${name} (id) VALUES ($1)`, [id])
  if (position !== undefined) await client.query(`UPDATE ledger_offset SET position = $1 WHERE feed = $2`, [position, name])
  await client.query('COMMIT')
}

serveWorker(
  {
    start: async ({ feed: which, url, slot, mode }: StartArgs) => {
      const factory = await feedFactory(which)
      const onEvent = (event: string) => {
        events.push(`${new Date().toISOString()} ${event}`)
        if (events.length > 50) events.splice(0, events.length - 50)
      }
      if (mode === 'count') {
        feed = factory({ url, slot, onRow, sequential: false, onEvent })
      } else {
        const name = `ledger_${which.replaceAll('-', '_')}`
        const client = new pg.Client({ connectionString: url })
        client.on('error', (error) => onEvent(`ledger connection: ${error.message}`))
        await client.connect()
        const stored = await client.query<{ position: string | null }>('SELECT position FROM ledger_offset WHERE feed = $1', [name])
        const resumeAfter = stored.rows[0]?.position ?? undefined
        feed = factory({
          url,
          slot,
          onRow: (id, _sentNs, position) => ledgerEffect(client, name, id, position),
          sequential: true,
          onEvent,
          ...(resumeAfter === undefined ? {} : { resumeAfter }),
        })
      }
      await feed.ready
      return null
    },
    arm: ({ count, timed }: { count: number; timed?: boolean }) => {
      armed = { target: count, latenciesMs: timed ? new Float64Array(count) : undefined, count: 0, startNs: 0, startCpu: undefined, endNs: 0, cpuUs: 0, done: undefined }
      return null
    },
    collect: async ({ timeoutMs }: { timeoutMs: number }): Promise<CollectResult> => {
      const run = armed
      if (run === undefined) throw new Error('not armed')
      let timedOut = false
      if (run.count < run.target) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            timedOut = true
            resolve()
          }, timeoutMs)
          run.done = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
      armed = undefined
      if (timedOut) {
        const cpu = process.cpuUsage(run.startCpu)
        run.cpuUs = cpu.user + cpu.system
        run.endNs = nowNs()
      }
      return {
        received: run.count,
        elapsedNs: run.count > 0 ? run.endNs - run.startNs : 0,
        cpuUs: run.cpuUs,
        timedOut,
        ...(run.latenciesMs === undefined ? {} : { latenciesMs: Array.from(run.latenciesMs.subarray(0, run.count)) }),
      }
    },
    heapStart: ({ everyMs }: { everyMs: number }) => {
      const before = process.memoryUsage().heapUsed
      const timer = setInterval(() => {
        if (heap === undefined) return
        heap.max = Math.max(heap.max, process.memoryUsage().heapUsed)
        heap.samples += 1
      }, everyMs)
      heap = { before, max: before, samples: 0, timer }
      return null
    },
    heapStop: (): HeapResult => {
      const sample = heap
      if (sample === undefined) throw new Error('heap sampling not started')
      clearInterval(sample.timer)
      heap = undefined
      return { before: sample.before, max: Math.max(sample.max, process.memoryUsage().heapUsed), samples: sample.samples }
    },
    events: () => events.slice(-20),
    metrics: () => feed?.metrics?.() ?? null,
  },
  async () => {
    await feed?.close()
  },
)
