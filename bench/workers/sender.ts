/**
 * A sender process. `blast` and `paced` use a fast raw-pg sender (the same for every receiver compared);
 * `peerSetup`/`peerSend` send through one library, for the send scenario.
 */
import pg from 'pg'
import { senders, type SenderPeer } from '../peers/index.js'
import type { SenderHandle } from '../peers/types.js'
import { nowNs, payloadText, payloadValue, type BenchPayload, type ChannelSet } from '../support/payload.js'
import { serveWorker } from '../support/worker.js'

const sendBatch = { name: 'bench_blast', text: 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)' }
const sendOne = { name: 'bench_one', text: 'SELECT pg_notify($1, $2)' }

const clients = new Map<string, Promise<pg.Client>>()

function client(url: string): Promise<pg.Client> {
  let existing = clients.get(url)
  if (!existing) {
    existing = (async () => {
      const created = new pg.Client({ connectionString: url })
      created.on('error', () => clients.delete(url))
      await created.connect()
      return created
    })()
    clients.set(url, existing)
  }
  return existing
}

export interface BlastArgs {
  readonly url: string
  readonly channels: ChannelSet
  readonly count: number
  /** Notifications per statement (and transaction). */
  readonly batch: number
  readonly seqStart: number
  /** Put the send time in each payload and return per-batch send/ack times. */
  readonly timed?: boolean
  /** Stop early after this long, ms. */
  readonly timeLimitMs?: number
  /** Notifications per second (whole batches, spaced evenly); default: as fast as PostgreSQL takes them. */
  readonly rate?: number
}

export interface BlastResult {
  readonly sent: number
  readonly elapsedNs: number
  /** When timed: per batch [first seq, size, send ns, ack ns]. */
  readonly batches?: Array<[number, number, number, number]>
}

export interface PacedArgs {
  readonly url: string
  readonly channel: string
  /** How many to send, unless `stopPaced` ends the stream first. */
  readonly count: number
  /** Notifications per second, each its own statement and transaction. */
  readonly rate: number
  readonly seqStart: number
}

export interface PacedResult {
  /** Sent and committed: seqs seqStart … seqStart + sent − 1. */
  readonly sent: number
  readonly elapsedNs: number
  /** Per message (index = seq - seqStart): send and ack times, ns. */
  readonly sendNs: number[]
  readonly ackNs: number[]
}

let peer: SenderHandle | undefined
/** Set by `stopPaced`: the paced stream in progress sends nothing more. */
let pacedStopRequested = false

serveWorker(
  {
    connect: async (args: { url: string }) => {
      await client(args.url)
      return null
    },
    blast: async (args: BlastArgs): Promise<BlastResult> => {
      const connection = await client(args.url)
      const limitNs = (args.timeLimitMs ?? 120_000) * 1e6
      const { prefix, count: channelCount } = args.channels
      const names = Array.from({ length: channelCount }, (_, index) => prefix + index)
      const batches: Array<[number, number, number, number]> = []
      const started = nowNs()
      let sent = 0
      while (sent < args.count && nowNs() - started < limitNs) {
        if (args.rate) {
          const dueAt = started + (sent / args.rate) * 1e9
          const waitMs = (dueAt - nowNs()) / 1e6
          if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs))
        }
        const size = Math.min(args.batch, args.count - sent)
        const channels: string[] = new Array(size)
        const payloads: string[] = new Array(size)
        const first = args.seqStart + sent
        const sendAt = args.timed ? nowNs() : 0
        for (let index = 0; index < size; index++) {
          const seq = first + index
          channels[index] = names[seq % channelCount] as string
          payloads[index] = payloadText(seq, sendAt)
        }
        await connection.query({ ...sendBatch, values: [channels, payloads] })
        if (args.timed) batches.push([first, size, sendAt, nowNs()])
        sent += size
      }
      return { sent, elapsedNs: nowNs() - started, ...(args.timed ? { batches } : {}) }
    },
    paced: async (args: PacedArgs): Promise<PacedResult> => {
      const connection = await client(args.url)
      const sendNs: number[] = new Array(args.count).fill(0)
      const ackNs: number[] = new Array(args.count).fill(0)
      const started = nowNs()
      const intervalNs = 1e9 / args.rate
      let issued = 0
      const pending: Promise<unknown>[] = []
      pacedStopRequested = false
      while (issued < args.count && !pacedStopRequested) {
        const due = Math.min(args.count, Math.floor((nowNs() - started) / intervalNs) + 1)
        while (issued < due) {
          const index = issued++
          const sendAt = nowNs()
          sendNs[index] = sendAt
          pending.push(
            connection.query({ ...sendOne, values: [args.channel, payloadText(args.seqStart + index, sendAt)] }).then(() => {
              ackNs[index] = nowNs()
            }),
          )
        }
        // Sleep until the next message is due (timers resolve to ~1 ms).
        const nextAt = started + issued * intervalNs
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (nextAt - nowNs()) / 1e6)))
      }
      await Promise.all(pending)
      return { sent: issued, elapsedNs: nowNs() - started, sendNs: sendNs.slice(0, issued), ackNs: ackNs.slice(0, issued) }
    },
    /** Ends the paced stream in progress; its `paced` call resolves once what it sent is committed. */
    stopPaced: () => {
      pacedStopRequested = true
      return null
    },
    /** One notification on each of `channels`, all with sequence number `seq` (recovery pings). */
    ping: async (args: { url: string; channels: string[]; seq: number }) => {
      const connection = await client(args.url)
      await Promise.all(args.channels.map((channel) => connection.query({ ...sendOne, values: [channel, payloadText(args.seq, nowNs())] })))
      return null
    },
    forget: async (args: { url: string }) => {
      const existing = clients.get(args.url)
      clients.delete(args.url)
      const connection = await existing?.catch(() => undefined)
      await connection?.end().catch(() => undefined)
      return null
    },
    peerSetup: async (args: { peer: SenderPeer; url: string }) => {
      const factory = senders[args.peer]
      peer = await factory(args.url)
      return null
    },
    /** Sends `count` payloads through the peer; the payload objects are made before the clock starts. */
    peerSend: async (args: { channel: string; count: number; seqStart: number }) => {
      if (!peer) throw new Error('peerSend before peerSetup')
      const payloads: BenchPayload[] = Array.from({ length: args.count }, (_, index) => payloadValue(args.seqStart + index))
      const cpuBefore = process.cpuUsage()
      const started = nowNs()
      await peer.sendAll(args.channel, payloads)
      const elapsedNs = nowNs() - started
      const cpu = process.cpuUsage(cpuBefore)
      return { sent: args.count, elapsedNs, cpuUs: cpu.user + cpu.system }
    },
  },
  async () => {
    await peer?.close()
    for (const [, connection] of clients) await (await connection.catch(() => undefined))?.end().catch(() => undefined)
  },
)
