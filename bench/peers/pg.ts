/**
 * Raw `pg`, as its docs show: one `pg.Client`, `LISTEN` queries, `client.on('notification')` + `JSON.parse`.
 * Several channels or subscribers get the small Map router a user would write around it.
 */
import pg from 'pg'
import type { BenchPayload } from '../support/payload.js'
import { chunks, type ReceiveOptions, type ReceiverFactory, type ReceiverHandle, type SenderFactory } from './types.js'

type Handler = (value: BenchPayload) => void

function quote(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}

async function listenAll(client: pg.Client, channels: readonly string[]): Promise<void> {
  for (const group of chunks(channels, 1000)) await client.query(group.map((name) => 'LISTEN ' + quote(name)).join(';'))
}

export const pgReceiver: ReceiverFactory = async (options) => {
  const client = new pg.Client({ connectionString: options.url })
  // pg's docs: without an 'error' listener a lost connection crashes the process.
  client.on('error', (error) => options.onEvent(`error: ${error.message}`))
  client.on('end', () => options.onEvent('end'))
  await client.connect()
  const routes = new Map<string, Handler[]>()
  const route = (channels: readonly string[]) => {
    for (const channel of channels) routes.set(channel, Array.from({ length: options.subscribers }, () => options.onValue))
  }
  route(options.channels)
  if (options.channels.length === 1 && options.subscribers === 1) {
    // The plain case: one channel, one handler.
    const onValue = options.onValue
    client.on('notification', (message) => onValue(JSON.parse(message.payload as string) as BenchPayload))
  } else {
    client.on('notification', (message) => {
      const handlers = routes.get(message.channel)
      if (handlers === undefined) return
      const value = JSON.parse(message.payload as string) as BenchPayload
      for (const handler of handlers) handler(value)
    })
  }
  await listenAll(client, options.channels)
  return {
    add: async (channels) => {
      route(channels)
      await listenAll(client, channels)
    },
    close: () => client.end().catch(() => undefined),
  }
}

/**
 * pg with the reconnect loop a user writes by hand (pg.Client cannot reconnect; the docs say to make a new
 * one): when the client reports 'error' or 'end', or a connection attempt fails, one retry a second later
 * with a new client, until one connects and LISTENs again. Exactly one retry is pending at a time.
 */
export const pgReconnectingReceiver: ReceiverFactory = async (options) => {
  let current: pg.Client | undefined
  let closed = false
  let retryPending = false
  const onValue = options.onValue
  const scheduleRetry = () => {
    if (closed || retryPending) return
    retryPending = true
    setTimeout(() => {
      retryPending = false
      void attempt()
    }, 1000)
  }
  /** One connection attempt; `first` rethrows instead of retrying, so the receiver's start fails loudly. */
  const attempt = async (first = false): Promise<void> => {
    if (closed) return
    const client = new pg.Client({ connectionString: options.url })
    let lost = false
    const onLost = (why: string) => {
      if (lost) return
      lost = true
      options.onEvent(why)
      if (current === client) current = undefined
      void client.end().catch(() => undefined)
      scheduleRetry()
    }
    client.on('error', (error) => onLost(`error: ${error.message}`))
    client.on('end', () => onLost('end'))
    client.on('notification', (message) => onValue(JSON.parse(message.payload as string) as BenchPayload))
    try {
      await client.connect()
      await listenAll(client, options.channels)
      current = client
      if (!first) options.onEvent('reconnected')
    } catch (error) {
      if (first) {
        lost = true
        void client.end().catch(() => undefined)
        throw error
      }
      onLost(`reconnect failed: ${(error as Error).message}`)
    }
  }
  await attempt(true)
  return {
    add: () => Promise.reject(new Error('not supported')),
    close: async () => {
      closed = true
      await current?.end().catch(() => undefined)
    },
  }
}

/** One `SELECT pg_notify($1, $2)` per notification; pg sends them one at a time on its connection. */
export const pgSender: SenderFactory = async (url) => {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  await client.connect()
  return {
    sendAll: async (channel, payloads) => {
      await Promise.all(payloads.map((payload) => client.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(payload)])))
    },
    close: () => client.end().catch(() => undefined),
  }
}

/** The hand-written batch a careful pg user could write: 1000 notifications per `unnest` statement. */
export const pgBatchSender: SenderFactory = async (url) => {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  await client.connect()
  return {
    sendAll: async (channel, payloads) => {
      await Promise.all(
        chunks(payloads, 1000).map((group) =>
          client.query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)', [group.map(() => channel), group.map((payload) => JSON.stringify(payload))]),
        ),
      )
    },
    close: () => client.end().catch(() => undefined),
  }
}

export type { ReceiveOptions, ReceiverHandle }
