/**
 * The server closes the listening connection on its own: an idle-session time-out, a restart, a backend
 * terminated while LISTEN/UNLISTEN batches are in flight. Each time the listener must come back on a new
 * connection, LISTEN to exactly the channels that have subscribers, and deliver the next notification,
 * without ever erroring a channel.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startEmbeddedServer } from '../../support/embedded-server.js'
import { ConnectionLostError, createPgListener, type ListenerState, type PgListener, type PgNotification } from '../../lib/index.js'
import { adminQuery, databaseUrl, eventually, terminateBackend, uniqueName } from '../support/database.js'
import { embeddedVersion } from '../support/global-setup.js'
import { observedSource } from '../support/observed-source.js'

type Connected = Extract<ListenerState, { status: 'connected' }>
type Reconnecting = Extract<ListenerState, { status: 'reconnecting' }>

const serverVersion = Number((await adminQuery<{ v: string }>("SELECT current_setting('server_version_num') AS v"))[0]!.v)

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Records every state, and every value, error and completion of the channels it is given. */
function watch(db: PgListener, channels: readonly string[]) {
  const states: ListenerState[] = []
  db.state$.subscribe((state) => states.push(state))
  const received: PgNotification[] = []
  const channelEnds: string[] = []
  for (const channel of channels) {
    db.channel(channel).subscribe({
      next: (notification) => received.push(notification),
      error: (error: unknown) => channelEnds.push(`${channel}: error ${String(error)}`),
      complete: () => channelEnds.push(`${channel}: complete`),
    })
  }
  const connected = () => states.filter((state): state is Connected => state.status === 'connected')
  const reconnecting = () => states.filter((state): state is Reconnecting => state.status === 'reconnecting')
  const describe = () => states.map((state) => (state.status === 'reconnecting' ? `reconnecting(${state.lastError.message})` : state.status)).join(' -> ')
  return { states, received, channelEnds, connected, reconnecting, describe }
}

/**
 * Sends `marker-<n>` with a fresh n around the listener until one of them arrives. While the server keeps
 * closing the connection, a notification sent in a gap is legitimately missed, so "the next one arrives" is
 * checked as "one sent after recovery arrives", bounded by `eventually`.
 */
async function deliverOne(received: readonly PgNotification[], channel: string, marker: string, url = databaseUrl()): Promise<void> {
  let sent = 0
  await eventually(
    async () => {
      if (received.some((n) => n.channel === channel && n.payload.startsWith(marker))) return true
      await adminQuery('SELECT pg_notify($1, $2)', [channel, `${marker}-${sent++}`], url)
      return false
    },
    () => `none of ${sent} notifications ${marker}-* arrived`,
  )
}

describe('the server closes the listening connection', () => {
  it.skipIf(serverVersion < 140000)(
    'comes back after idle_session_timeout ends the idle listening connection, again and again (PostgreSQL 14+)',
    async () => {
      const channel = uniqueName('idle')
      // The health check would keep the connection busy: off, so the connection really is idle between notifications.
      const db = createPgListener(
        { connectionString: databaseUrl(), options: '-c idle_session_timeout=1000' },
        { healthCheck: false, reconnect: { initialDelay: 50, maxDelay: 200 } },
      )
      cleanups.push(() => db.close())
      const { received, channelEnds, connected, reconnecting, describe } = watch(db, [channel])

      // Two losses and two recoveries: the listener does not give up after the first.
      await eventually(() => connected().length >= 3, describe)
      for (const loss of reconnecting()) {
        expect(loss.lastError).toBeInstanceOf(ConnectionLostError)
        // 57P05 idle_session_timeout, as the server reported it.
        expect(loss.lastError.info.sqlState, loss.lastError.message).toBe('57P05')
        expect(loss.attempt).toBe(1)
      }
      const pids = connected().map((state) => state.processId)
      expect(new Set(pids).size).toBe(pids.length)
      expect(connected().slice(1).every((state) => state.gap !== undefined)).toBe(true)

      await deliverOne(received, channel, 'after-idle')
      // The sink's own connection was idled out too: it is replaced on the next send.
      const payload = `via-sink-${Date.now()}`
      await eventually(
        async () => {
          if (received.some((n) => n.payload === payload)) return true
          await db.notify(channel, payload).catch(() => undefined)
          return false
        },
        () => 'a notification sent through the sink never arrived',
      )
      expect(channelEnds).toEqual([])
    },
  )

  it(
    'comes back after the server restarts (a dedicated server: fast shutdown, refused connections, start)',
    async () => {
      const server = await startEmbeddedServer(embeddedVersion())
      cleanups.push(() => server.destroy())
      const channel = uniqueName('restart')
      const db = createPgListener(server.url, { reconnect: { initialDelay: 50, maxDelay: 500 }, healthCheck: { interval: 1_000, timeout: 1_000 } })
      cleanups.push(() => db.close())
      const { received, channelEnds, connected, reconnecting, states, describe } = watch(db, [channel])
      await eventually(() => connected().length === 1, describe)
      await db.notify(channel, 'before')
      await eventually(() => received.some((n) => n.payload === 'before'), () => 'the first notification did not arrive')

      await server.stop()
      await eventually(() => reconnecting().some((state) => state.lastError.info.systemCode === 'ECONNREFUSED'), describe)
      expect(reconnecting().every((state) => state.lastError instanceof ConnectionLostError)).toBe(true)
      expect(states.some((state) => state.status === 'failed')).toBe(false)

      // Sent while the server is down: queued and sent once it is back (committed, so the promise resolves).
      const duringOutage = db.notify(channel, 'during-outage')
      await server.start()
      await eventually(() => connected().length === 2, describe)
      const [first, second] = connected()
      expect(second!.processId).not.toBe(first!.processId)
      expect(second!.gap).toBeDefined()
      await expect(duringOutage).resolves.toBeUndefined()

      await db.notify(channel, 'after-restart')
      await eventually(() => received.some((n) => n.payload === 'after-restart'), () => `received ${JSON.stringify(received.map((n) => n.payload))}`)
      // Nothing twice: 'during-outage' may have been sent before the listener LISTENed again (a gap), never twice.
      const payloads = received.map((n) => n.payload)
      expect(payloads.filter((p) => p === 'during-outage').length).toBeLessThanOrEqual(1)
      expect(payloads.filter((p) => p !== 'during-outage')).toEqual(['before', 'after-restart'])
      expect(channelEnds).toEqual([])
    },
    60_000,
  )

  it('ends with the LISTEN set equal to the subscribed set when backends are terminated during subscribe/unsubscribe bursts', async () => {
    const prefix = uniqueName('burst')
    const names = Array.from({ length: 8 }, (_, i) => `${prefix}-${i}`)
    const source = observedSource(databaseUrl())
    const db = createPgListener(databaseUrl(), {
      source,
      reconnect: { initialDelay: 10, maxDelay: 100 },
      healthCheck: { interval: 200, timeout: 5_000 },
    })
    cleanups.push(() => db.close())
    const { states, received, channelEnds, connected, describe } = watch(db, [])

    // A fixed pseudo-random walk (reproducible), subscriber by subscriber.
    let seed = 0x2545f491
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const subscribers = new Map<number, { channel: string; subscription: { unsubscribe(): void } }>()
    const channelEnd = (channel: string) => ({
      next: (notification: PgNotification) => received.push(notification),
      error: (error: unknown) => channelEnds.push(`${channel}: error ${String(error)}`),
      complete: () => channelEnds.push(`${channel}: complete`),
    })
    let nextId = 0
    const terminations: Promise<void>[] = []
    const currentPid = () => connected().at(-1)?.processId

    for (let burst = 0; burst < 6; burst++) {
      for (let step = 0; step < 25; step++) {
        if (subscribers.size > 0 && random(2) === 0) {
          const ids = [...subscribers.keys()]
          const id = ids[random(ids.length)]!
          subscribers.get(id)!.subscription.unsubscribe()
          subscribers.delete(id)
        } else {
          const channel = names[random(names.length)]!
          subscribers.set(nextId++, { channel, subscription: db.channel(channel).subscribe(channelEnd(channel)) })
        }
        // Terminations land at an arbitrary point of the burst: their query runs while the burst goes on.
        const pid = currentPid()
        if (step % 10 === 5 && pid !== undefined) terminations.push(terminateBackend(pid))
        if (random(4) === 0) await new Promise((resolve) => setTimeout(resolve, random(5)))
      }
      await new Promise((resolve) => setTimeout(resolve, random(30)))
    }
    await Promise.all(terminations)
    expect(states.some((state) => state.status === 'reconnecting')).toBe(true)
    console.log(`[bursts] ${terminations.length} terminations, ${states.filter((s) => s.status === 'reconnecting').length} reconnects, ${source.changes.length} LISTEN/UNLISTEN batches`)

    const expected = [...new Set([...subscribers.values()].map((s) => s.channel))].sort()
    let last: string[] = []
    await eventually(
      async () => {
        const state = states.at(-1)
        if (state?.status !== 'connected' || state.processId !== source.sessions.at(-1)?.session.processId) return false
        last = (await source.serverListens().catch(() => [])).filter((name) => name.startsWith(prefix))
        return JSON.stringify(last) === JSON.stringify(expected)
      },
      () => `server listens to ${JSON.stringify(last)}, subscribed: ${JSON.stringify(expected)}; states ${describe()}`,
    )

    // Delivery agrees with the LISTEN set: every subscribed channel hears its marker, through every subscriber.
    const perChannel = new Map(expected.map((channel) => [channel, [...subscribers.values()].filter((s) => s.channel === channel).length]))
    for (const channel of names) await db.notify(channel, `marker ${channel}`)
    await eventually(
      () => expected.every((channel) => received.filter((n) => n.payload === `marker ${channel}`).length === perChannel.get(channel)),
      () => `markers received: ${JSON.stringify(received.filter((n) => n.payload.startsWith('marker')).map((n) => n.channel))}`,
    )
    expect(channelEnds).toEqual([])
    for (const { subscription } of subscribers.values()) subscription.unsubscribe()
  })
})
