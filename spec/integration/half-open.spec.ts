/**
 * Half-open connections: the listener talks to PostgreSQL through a proxy that can silently stop forwarding
 * without closing anything (spec/support/half-open-proxy.ts). Only the health check can notice that; these
 * specs prove it does, and that the listener comes back on a new connection when the network heals.
 *
 * Nothing here asserts a duration. How long detection took is printed (and is expected to be about
 * `healthCheck.interval + healthCheck.timeout`), so a slow machine cannot make the specs flaky.
 */
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { ConnectionLostError, createPgListener, NotifyFailedError, type ListenerState, type PgListener, type PgNotification } from '../../lib/index.js'
import { adminQuery, databaseUrl, eventually, uniqueName } from '../support/database.js'
import { startHalfOpenProxy, type HalfOpenProxy } from '../support/half-open-proxy.js'

const healthCheck = { interval: 500, timeout: 500 }

interface TimedState {
  readonly at: number
  readonly state: ListenerState
}

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function proxyToServer(): Promise<HalfOpenProxy> {
  const proxy = await startHalfOpenProxy({ targetPort: Number(new URL(databaseUrl()).port) })
  cleanups.push(() => proxy.close())
  return proxy
}

/** A listener through the proxy, with every state and notification recorded as it happens. */
function listenerThrough(proxy: HalfOpenProxy, channel: string) {
  const db: PgListener = createPgListener(proxy.url(databaseUrl()), {
    healthCheck,
    connectTimeout: 1_000,
    reconnect: { initialDelay: 100, maxDelay: 500 },
  })
  cleanups.push(() => db.close())
  const states: TimedState[] = []
  db.state$.subscribe((state) => states.push({ at: Date.now(), state }))
  const received: PgNotification[] = []
  const channelEvents: string[] = []
  db.channel(channel).subscribe({
    next: (notification) => received.push(notification),
    error: (error: unknown) => channelEvents.push(`error ${String(error)}`),
    complete: () => channelEvents.push('complete'),
  })
  const connected = () => states.filter((entry) => entry.state.status === 'connected').map((entry) => entry.state as Extract<ListenerState, { status: 'connected' }>)
  return { db, states, received, channelEvents, connected }
}

/** Sends on a direct connection to the server, around the proxy. */
const notifyDirectly = (channel: string, payload: string) => adminQuery('SELECT pg_notify($1, $2)', [channel, payload])

async function backendAlive(pid: number): Promise<boolean> {
  return (await adminQuery('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).length > 0
}

const describeStates = (states: readonly TimedState[]) => () =>
  states.map(({ state }) => (state.status === 'reconnecting' ? `reconnecting(${state.lastError.message})` : state.status)).join(' -> ')

describe('the half-open proxy itself', () => {
  it('holds a query without closing the socket while blackholed, and delivers it on resume', async () => {
    const proxy = await proxyToServer()
    const client = new pg.Client({ connectionString: proxy.url(databaseUrl()) })
    const events: string[] = []
    client.on('end', () => events.push('end'))
    client.on('error', (error) => events.push(`error ${error.message}`))
    await client.connect()
    cleanups.push(() => client.end())

    proxy.blackhole()
    let answered = false
    const query = client.query<{ one: number }>('SELECT 1 AS one').then((result) => {
      answered = true
      return result
    })
    // A bounded look at silence: neither an answer nor a closed socket arrives while the proxy holds traffic.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(answered).toBe(false)
    expect(events).toEqual([])
    expect(proxy.connections).toBe(1)

    proxy.resume()
    expect((await query).rows).toEqual([{ one: 1 }])
    expect(events).toEqual([])
  })
})

describe('half-open connection (blackholed proxy)', () => {
  it('notices the silent connection through the health check and recovers on a new connection when the network heals', async () => {
    const channel = uniqueName('half-open')
    const proxy = await proxyToServer()
    const { db, states, received, channelEvents, connected } = listenerThrough(proxy, channel)

    await eventually(() => connected().length === 1, describeStates(states))
    const first = connected()[0]!
    await notifyDirectly(channel, 'before')
    await eventually(() => received.some((n) => n.payload === 'before'), () => 'the first notification did not arrive')

    const blackholedAt = Date.now()
    proxy.blackhole()
    await eventually(() => states.some((entry) => entry.at >= blackholedAt && entry.state.status === 'reconnecting'), describeStates(states))
    const detected = states.find((entry) => entry.at >= blackholedAt && entry.state.status === 'reconnecting')!
    const lost = detected.state as Extract<ListenerState, { status: 'reconnecting' }>
    expect(lost.lastError).toBeInstanceOf(ConnectionLostError)
    expect(lost.lastError.message).toMatch(/health check/)
    console.log(
      `[half-open] blackhole detected after ${detected.at - blackholedAt} ms ` +
        `(health check interval ${healthCheck.interval} ms + time-out ${healthCheck.timeout} ms = ${healthCheck.interval + healthCheck.timeout} ms at most, plus scheduling)`,
    )

    // Attempts made while the network is still down hang until their connect time-out: the proxy accepts and
    // stays silent. Let at least one of them fail before healing, so recovery is from a retry, not a first try.
    await eventually(() => states.filter((entry) => entry.at >= blackholedAt && entry.state.status === 'reconnecting').length >= 2, describeStates(states))
    const healedAt = Date.now()
    proxy.resume()

    await eventually(() => connected().length === 2, describeStates(states))
    const second = connected()[1]!
    console.log(`[half-open] connected again ${states.find((entry) => entry.state === second)!.at - healedAt} ms after the network healed`)
    expect(second.processId).not.toBe(first.processId)
    // The gap starts when the old connection was last heard from: before the network went silent, not when
    // the health check noticed it.
    expect(second.gap).toBeDefined()
    expect(second.gap!.since).toBeLessThanOrEqual(blackholedAt)
    expect(second.gap!.since).toBeGreaterThanOrEqual(received.find((n) => n.payload === 'before')!.receivedAt)

    // The order of states: connected, then only reconnect attempts, then connected again; never failed or closed.
    const statuses = states.map((entry) => entry.state.status)
    const firstConnected = statuses.indexOf('connected')
    const secondConnected = statuses.indexOf('connected', firstConnected + 1)
    expect(statuses.slice(0, firstConnected)).toEqual(['idle', 'connecting'])
    const between = statuses.slice(firstConnected + 1, secondConnected)
    expect(between[0]).toBe('reconnecting')
    expect(between.every((status) => status === 'reconnecting' || status === 'connecting')).toBe(true)
    expect(statuses.slice(secondConnected + 1)).toEqual([])

    // The next notification arrives, whether sent around the proxy or by the listener's own sink through it.
    await notifyDirectly(channel, 'after-direct')
    await db.notify(channel, 'after-sink')
    await eventually(
      () => ['after-direct', 'after-sink'].every((payload) => received.some((n) => n.payload === payload)),
      () => `received ${JSON.stringify(received.map((n) => n.payload))}`,
    )
    expect(channelEvents).toEqual([])

    // The abandoned connection does not linger: once the network heals, its backend learns it was closed.
    await eventually(async () => !(await backendAlive(first.processId)), () => `backend ${first.processId} is still there`)
  })

  it('recovers when the proxy drops every connection (both sockets closed), without waiting for the health check', async () => {
    const channel = uniqueName('dropped')
    const proxy = await proxyToServer()
    const { states, received, connected } = listenerThrough(proxy, channel)
    await eventually(() => connected().length === 1, describeStates(states))

    proxy.dropAll()
    await eventually(() => connected().length === 2, describeStates(states))
    const lost = states.find((entry) => entry.state.status === 'reconnecting')!.state as Extract<ListenerState, { status: 'reconnecting' }>
    expect(lost.lastError).toBeInstanceOf(ConnectionLostError)
    expect(lost.lastError.message).not.toMatch(/health check/)

    await notifyDirectly(channel, 'after-drop')
    await eventually(() => received.some((n) => n.payload === 'after-drop'), () => 'the notification after the drop did not arrive')
  })

  it('keeps retrying while connections are refused, and connects once they are accepted again', async () => {
    const channel = uniqueName('refused')
    const proxy = await proxyToServer()
    const { states, received, channelEvents, connected } = listenerThrough(proxy, channel)
    await eventually(() => connected().length === 1, describeStates(states))

    proxy.refuse()
    proxy.dropAll()
    const refusals = () =>
      states.filter((entry) => entry.state.status === 'reconnecting' && entry.state.lastError.info.systemCode === 'ECONNREFUSED').length
    await eventually(() => refusals() >= 2, describeStates(states))
    const attempts = states.flatMap((entry) => (entry.state.status === 'reconnecting' ? [entry.state.attempt] : []))
    // Each retry counts up from 1 after the loss.
    expect(attempts).toEqual(attempts.map((_, index) => index + 1))

    await proxy.accept()
    await eventually(() => connected().length === 2, describeStates(states))
    await notifyDirectly(channel, 'after-refusal')
    await eventually(() => received.some((n) => n.payload === 'after-refusal'), () => 'the notification after the refusals did not arrive')
    expect(channelEvents).toEqual([])
  })
})

/** Resolves with what `promise` settled to, or rejects if it has not settled within `limitMs` (a bound on hanging). */
async function settledWithin<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${limitMs} ms`)), limitMs)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}

describe('connections that go silent while new ones pass (a NAT or load balancer forgot them)', () => {
  it('replaces a silent sending connection: the listener recovers instead of failing, and every notify() settles', async () => {
    const channel = uniqueName('frozen')
    const proxy = await proxyToServer()
    const db = createPgListener(proxy.url(databaseUrl()), {
      healthCheck: { interval: 300, timeout: 200 },
      selfProbe: { timeout: 1_000 },
      connectTimeout: 1_000,
      reconnect: { initialDelay: 50, maxDelay: 200 },
      notify: { sendTimeout: 1_000 },
    })
    cleanups.push(() => db.close())
    const states: TimedState[] = []
    db.state$.subscribe((state) => states.push({ at: Date.now(), state }))
    const received: PgNotification[] = []
    db.channel(channel).subscribe((notification) => received.push(notification))
    await eventually(() => states.some((entry) => entry.state.status === 'connected'), describeStates(states))
    // Opens the sending connection (through the proxy too), and proves the path works.
    await db.notify(channel, 'before')
    await eventually(() => received.some((n) => n.payload === 'before'), () => 'before did not arrive')

    const frozenAt = Date.now()
    proxy.freezeExisting()
    // Sent on the silent sending connection: it must settle, committed or failed with its outcome.
    const outcome = await settledWithin(
      db.notify(channel, 'after the freeze').then(
        () => 'committed',
        (error: unknown) => error,
      ),
      15_000,
      'notify() on a silent sending connection',
    )
    expect(outcome === 'committed' || outcome instanceof NotifyFailedError).toBe(true)

    // The listener notices its own silent connection, and comes back on new ones: never failed.
    await eventually(() => states.some((entry) => entry.at > frozenAt && entry.state.status === 'connected'), describeStates(states), 15_000)
    expect(states.filter((entry) => entry.state.status === 'failed')).toEqual([])
    await settledWithin(db.notify(channel, 'after recovery'), 15_000, 'notify() after recovery')
    await eventually(() => received.some((n) => n.payload === 'after recovery'), () => 'after recovery did not arrive')
    await settledWithin(db.close(), 5_000, 'close()')
  })

  it('close() resolves promptly with a batch stuck on a silent sending connection, failing it as of unknown outcome', async () => {
    const channel = uniqueName('frozen-close')
    const proxy = await proxyToServer()
    const db = createPgListener(proxy.url(databaseUrl()), { notify: { closeTimeout: 500 } })
    cleanups.push(() => db.close())
    await db.notify(channel, 'opens the sending connection')
    proxy.freezeExisting()
    const stuck = db.notify(channel, 'stuck').catch((error: unknown) => error)
    // Let the batch reach the silent socket.
    await new Promise((resolve) => setTimeout(resolve, 100))
    await settledWithin(db.close(), 5_000, 'close()')
    const error = await stuck
    expect(error).toBeInstanceOf(NotifyFailedError)
    expect((error as NotifyFailedError).info.outcome).toBe('unknown')
  })
})
