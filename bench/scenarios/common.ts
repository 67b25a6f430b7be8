/** What every scenario gets and gives back, and the receive/measure steps they share. */
import type { BlastArgs, BlastResult } from '../workers/sender.js'
import type { CollectResult } from '../workers/receiver.js'
import type { ChannelSet } from '../support/payload.js'
import { Worker, type WorkerOptions } from '../support/worker.js'

export interface BenchContext {
  /** The shared server (embedded, or DATABASE_URL). */
  readonly url: string
  /** BENCH_QUICK=1: fewer and shorter runs, for a smoke run of about a minute. */
  readonly quick: boolean
  /** Profile rxpg and raw pg receivers with --cpu-prof (default: in full mode). */
  readonly profile: boolean
  /** Where profiles and scratch files go (ignored by git). */
  readonly scratchDir: string
  readonly log: (line: string) => void
}

export interface Table {
  readonly title?: string
  readonly headers: readonly string[]
  readonly rows: ReadonlyArray<readonly string[]>
  readonly note?: string
}

/** One group of bars in the chart: each library's ratio to the reference (raw pg unless said otherwise). */
export interface ChartGroup {
  readonly label: string
  readonly lowerIsBetter: boolean
  readonly bars: ReadonlyArray<{ readonly peer: string; readonly ratio: number; readonly min?: number; readonly max?: number }>
}

export interface TargetCheck {
  readonly target: string
  readonly measured: string
  /** null when it could not be measured. */
  readonly met: boolean | null
}

export interface ScenarioResult {
  readonly id: string
  readonly title: string
  /** How it was measured, in a sentence or three (markdown). */
  readonly method: string
  readonly tables: readonly Table[]
  readonly chart: readonly ChartGroup[]
  readonly targets: readonly TargetCheck[]
  /** Extra markdown (profiles, observations). */
  readonly extra?: string
  /** Every figure, for results.json. */
  readonly raw: unknown
  readonly durationMs?: number
}

export type Scenario = (context: BenchContext) => Promise<ScenarioResult>

/** Starts a receiver process for `peer` listening to `channels`. */
export async function startReceiver(
  context: BenchContext,
  peer: string,
  channels: ChannelSet,
  options: { subscribers?: number; worker?: WorkerOptions; url?: string } = {},
): Promise<{ worker: Worker; setupMs: number }> {
  const worker = await Worker.start('receiver', `receiver(${peer})`, { ...options.worker, nodeFlags: ['--no-deprecation', ...(options.worker?.nodeFlags ?? [])] })
  try {
    const { setupMs } = await worker.call<{ setupMs: number }>(
      'listen',
      { peer, url: options.url ?? context.url, channels, subscribers: options.subscribers ?? 1 },
      120_000,
    )
    return { worker, setupMs }
  } catch (error) {
    await worker.stop()
    throw error
  }
}

export async function startSender(context: BenchContext, url = context.url): Promise<Worker> {
  const worker = await Worker.start('sender', 'sender', { nodeFlags: ['--no-deprecation'] })
  await worker.call('connect', { url })
  return worker
}

export interface MeasureArgs {
  readonly channels: ChannelSet
  readonly count: number
  readonly batch?: number
  /** Subscribers per channel: deliveries = count × subscribers. */
  readonly subscribers?: number
  /**
   * 'live': sender and receiver run at the same time. 'drain': the receiver is frozen (SIGSTOP) while the
   * sender sends everything, then thawed: it drains the backlog as fast as it can.
   */
  readonly mode: 'live' | 'drain'
  readonly timed?: boolean
  /** Paced sending (notifications per second); default as fast as possible. */
  readonly rate?: number
  readonly seqStart?: number
  readonly timeoutMs?: number
}

export interface Measurement {
  readonly collect: CollectResult
  readonly blast: BlastResult
  readonly deliveries: number
  /** Deliveries per second at the receiver. */
  readonly perSecond: number
  /** Receiver CPU µs per notification received (not per delivery). */
  readonly cpuPerNotification: number
  readonly cpuPerDelivery: number
}

/** One measured burst: `count` notifications from the raw-pg sender to the receiver. */
export async function measure(context: BenchContext, receiver: Worker, sender: Worker, args: MeasureArgs): Promise<Measurement> {
  const subscribers = args.subscribers ?? 1
  const deliveries = args.count * subscribers
  const timeoutMs = args.timeoutMs ?? 120_000
  await receiver.call('arm', { count: deliveries, timed: args.timed ?? false })
  if (args.mode === 'drain') receiver.pause()
  let blast: BlastResult
  try {
    blast = await sender.call<BlastResult>(
      'blast',
      {
        url: context.url,
        channels: args.channels,
        count: args.count,
        batch: args.batch ?? 1000,
        seqStart: args.seqStart ?? 0,
        timed: args.timed ?? false,
        timeLimitMs: timeoutMs,
        ...(args.rate ? { rate: args.rate } : {}),
      } satisfies BlastArgs,
      timeoutMs + 10_000,
    )
  } finally {
    if (args.mode === 'drain') receiver.resume()
  }
  const collect = await receiver.call<CollectResult>('collect', { timeoutMs }, timeoutMs + 10_000)
  const received = collect.received
  const notifications = received / subscribers
  return {
    collect,
    blast,
    deliveries: received,
    perSecond: collect.elapsedNs > 0 ? (received - 1) / (collect.elapsedNs / 1e9) : Number.NaN,
    cpuPerNotification: notifications > 0 ? collect.cpuUs / notifications : Number.NaN,
    cpuPerDelivery: received > 0 ? collect.cpuUs / received : Number.NaN,
  }
}

/** `items` rotated by `by`, so that no library always runs first (or last) in a round. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = ((by % items.length) + items.length) % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

/** Per-run ratios value[i]/reference[i] (runs interleaved, so each pair shared the machine's state). */
export function pairedRatios(values: readonly number[], reference: readonly number[]): number[] {
  const result: number[] = []
  for (let index = 0; index < Math.min(values.length, reference.length); index++) {
    const value = values[index] as number
    const base = reference[index] as number
    if (Number.isFinite(value) && Number.isFinite(base) && base !== 0) result.push(value / base)
  }
  return result
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
