/**
 * A receiver process: one library listening, a handler that counts (and, when asked, timestamps) every
 * decoded notification, and the figures the harness asks for. Its CPU time is its own.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector'
import { findSourceMap } from 'node:module'
import { receivers } from '../peers/index.js'
import type { ReceiverHandle } from '../peers/types.js'
import { channelNames, nowNs, type BenchPayload, type ChannelSet } from '../support/payload.js'
import { remapProfile, type CpuProfile } from '../support/profile.js'
import { serveWorker } from '../support/worker.js'

interface Armed {
  readonly target: number
  /** Per-delivery emission times (ns), sequence numbers and send times (the payload's `t`, ns), when timing. */
  readonly emitNs: Float64Array | undefined
  readonly seqs: Float64Array | undefined
  readonly sentNs: Float64Array | undefined
  count: number
  startNs: number
  startCpu: NodeJS.CpuUsage | undefined
  endNs: number
  endCpu: NodeJS.CpuUsage | undefined
  done: (() => void) | undefined
}

export interface ArmArgs {
  /** Deliveries to wait for (notifications × subscribers). */
  readonly count: number
  /** Record each delivery's emission time, sequence number and send time. */
  readonly timed?: boolean
}

export interface CollectResult {
  readonly received: number
  /** From the first delivery to the last, ns. */
  readonly elapsedNs: number
  /** CPU time (user + system) of this process over the same span, µs. */
  readonly cpuUs: number
  readonly timedOut: boolean
  readonly emitNs?: number[]
  readonly seqs?: number[]
  readonly sentNs?: number[]
}

export interface MemorySample {
  readonly heapUsed: number
  readonly rss: number
  readonly external: number
  readonly arrayBuffers: number
}

let receiver: ReceiverHandle | undefined
let armed: Armed | undefined
const events: string[] = []
let eventCount = 0
/** Recovery: the first delivery with seq ≥ `minSeq`, sent at or after `minSentNs`, resolves the waiter. */
let seqWaiter: { minSeq: number; minSentNs: number; resolve(ns: number): void } | undefined

function onValue(value: BenchPayload): void {
  if (seqWaiter !== undefined && value.seq >= seqWaiter.minSeq && value.t >= seqWaiter.minSentNs) {
    const waiter = seqWaiter
    seqWaiter = undefined
    waiter.resolve(nowNs())
  }
  const run = armed
  if (run === undefined || run.count >= run.target) return
  if (run.count === 0) {
    run.startNs = nowNs()
    run.startCpu = process.cpuUsage()
  }
  if (run.emitNs !== undefined && run.seqs !== undefined && run.sentNs !== undefined) {
    run.emitNs[run.count] = nowNs()
    run.seqs[run.count] = value.seq
    run.sentNs[run.count] = value.t
  }
  run.count += 1
  if (run.count === run.target) {
    run.endCpu = process.cpuUsage(run.startCpu)
    run.endNs = nowNs()
    run.done?.()
  }
}

function onEvent(event: string): void {
  eventCount += 1
  events.push(`${new Date().toISOString()} ${event}`)
  if (events.length > 200) events.splice(0, events.length - 200)
}

/**
 * The emission time of the earliest delivery in the record's tail that matches (seq ≥ `minSeq`, sent at or after
 * `minSentNs`), scanning back from the latest one; undefined when the latest does not match. Deliveries come in
 * commit order, so the tail that matches is what arrived since the threshold: a few entries, not the record.
 */
function earliestRecordedFrom(run: Armed, minSeq: number, minSentNs: number): number | undefined {
  const { emitNs, seqs, sentNs } = run
  if (emitNs === undefined || seqs === undefined || sentNs === undefined) return undefined
  let found: number | undefined
  for (let index = run.count - 1; index >= 0 && (seqs[index] as number) >= minSeq && (sentNs[index] as number) >= minSentNs; index--) found = emitNs[index]
  return found
}

let profiler: Session | undefined

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T)))
  })
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect) {
    collect()
    collect()
  }
}

serveWorker(
  {
    /** Starts `peer` listening to `channels`; resolves once its LISTENs are in effect. */
    listen: async (args: { peer: string; url: string; channels: ChannelSet; subscribers?: number }) => {
      const factory = receivers[args.peer]
      if (!factory) throw new Error(`unknown receiver peer ${args.peer}`)
      const started = nowNs()
      receiver = await factory({ url: args.url, channels: channelNames(args.channels), subscribers: args.subscribers ?? 1, onValue, onEvent })
      return { setupMs: (nowNs() - started) / 1e6 }
    },
    add: async (args: { channels: ChannelSet }) => {
      const started = nowNs()
      await receiver?.add(channelNames(args.channels))
      return { setupMs: (nowNs() - started) / 1e6 }
    },
    arm: (args: ArmArgs) => {
      armed = {
        target: args.count,
        emitNs: args.timed ? new Float64Array(args.count) : undefined,
        seqs: args.timed ? new Float64Array(args.count) : undefined,
        sentNs: args.timed ? new Float64Array(args.count) : undefined,
        count: 0,
        startNs: 0,
        startCpu: undefined,
        endNs: 0,
        endCpu: undefined,
        done: undefined,
      }
      return null
    },
    collect: async (args: { timeoutMs: number }): Promise<CollectResult> => {
      const run = armed
      if (run === undefined) throw new Error('collect without arm')
      if (run.count < run.target) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, args.timeoutMs)
          run.done = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
      armed = undefined
      const timedOut = run.count < run.target
      const cpu = run.endCpu ?? process.cpuUsage(run.startCpu)
      const endNs = run.count < run.target ? nowNs() : run.endNs
      return {
        received: run.count,
        elapsedNs: run.count > 0 ? endNs - run.startNs : 0,
        cpuUs: run.count > 0 ? cpu.user + cpu.system : 0,
        timedOut,
        ...(run.emitNs && run.seqs && run.sentNs
          ? { emitNs: Array.from(run.emitNs.subarray(0, run.count)), seqs: Array.from(run.seqs.subarray(0, run.count)), sentNs: Array.from(run.sentNs.subarray(0, run.count)) }
          : {}),
      }
    },
    /**
     * Resolves with the time (ns) of the first delivery whose seq is at least `minSeq` and that was sent at or
     * after `sentFromNs`, or null after `timeoutMs`. When timing, a delivery recorded before this call counts
     * too: the backend-kill scenario asks only after its pg_terminate_backend returned, and a library may have
     * recovered by then.
     */
    firstFrom: (args: { minSeq?: number; sentFromNs?: number; timeoutMs: number }) =>
      new Promise<number | null>((resolve) => {
        const minSeq = args.minSeq ?? 0
        const minSentNs = args.sentFromNs ?? 0
        const recorded = armed === undefined ? undefined : earliestRecordedFrom(armed, minSeq, minSentNs)
        if (recorded !== undefined) {
          resolve(recorded)
          return
        }
        const timer = setTimeout(() => {
          seqWaiter = undefined
          resolve(null)
        }, args.timeoutMs)
        seqWaiter = {
          minSeq,
          minSentNs,
          resolve: (ns) => {
            clearTimeout(timer)
            resolve(ns)
          },
        }
      }),
    memory: async (): Promise<MemorySample> => {
      // Let pending I/O and timers settle, then collect twice.
      await new Promise((resolve) => setTimeout(resolve, 100))
      gc()
      const usage = process.memoryUsage()
      return { heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external, arrayBuffers: usage.arrayBuffers }
    },
    /** Starts V8's sampling CPU profiler (the one behind `node --cpu-prof`) in this process. */
    profileStart: async (args: { intervalUs?: number }) => {
      profiler = new Session()
      profiler.connect()
      await post(profiler, 'Profiler.enable')
      await post(profiler, 'Profiler.setSamplingInterval', { interval: args.intervalUs ?? 100 })
      await post(profiler, 'Profiler.start')
      return null
    },
    /** Stops it and writes a .cpuprofile whose frames point into the TypeScript sources. */
    profileStop: async (args: { path: string }) => {
      if (!profiler) throw new Error('profileStop without profileStart')
      const { profile } = await post<{ profile: CpuProfile }>(profiler, 'Profiler.stop')
      profiler.disconnect()
      profiler = undefined
      await writeFile(args.path, JSON.stringify(remapProfile(profile, (url) => findSourceMap(url))))
      return args.path
    },
    events: () => ({ count: eventCount, last: events.slice(-20) }),
    close: async () => {
      await receiver?.close()
      receiver = undefined
      return null
    },
  },
  async () => {
    await receiver?.close()
  },
)
