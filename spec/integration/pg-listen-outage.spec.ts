/**
 * What a 10-second server outage does to pg-listen, measured on a dedicated server (stopped and started
 * again; the shared one is never touched). Three listeners live through the same outage:
 *
 * - `defaults`: pg-listen with its default options (retryInterval 500 ms, retryTimeout 3000 ms), under rxpg;
 * - `forever`:  pg-listen with `retryTimeout: 0` (no time limit), under rxpg;
 * - `rxpg`:     rxpg's own pg source, for comparison.
 *
 * The outage runs once (beforeAll); each `it` checks one behaviour of what was recorded. The figures are
 * printed, not asserted (see docs/pg-listen-adapter.md for what one run measured).
 */
import pgListen, { type Options as PgListenOptions, type Subscriber } from 'pg-listen'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'
import { createPgListener, type ListenerState, type PgListener, type PgNotification } from '../../lib/index.js'
import { pgListenSource } from '../../lib/pg-listen/index.js'
import { adminQuery, eventually, uniqueName } from '../support/database.js'
import { collect, stateOf } from '../support/listener.js'

const OUTAGE_MS = 10_000
const createSubscriber = pgListen.default

interface Participant {
  readonly name: string
  readonly channel: string
  readonly db: PgListener
  readonly subscriber?: Subscriber
  readonly received: ReturnType<typeof collect<PgNotification>>
  readonly states: Array<{ readonly at: number; readonly state: ListenerState }>
  /** pg-listen's own events, with the time they came. */
  readonly events: Array<{ readonly at: number; readonly event: 'reconnect' | 'connected' | 'error'; readonly detail?: string }>
}

let server: EmbeddedServer
const participants: Participant[] = []
const times = { stopped: 0, restarted: 0 }

function participant(name: string, options: PgListenOptions | 'rxpg'): Participant {
  const channel = uniqueName(`outage-${name}`)
  const events: Participant['events'] = []
  let subscriber: Subscriber | undefined
  let db: PgListener
  if (options === 'rxpg') {
    db = createPgListener(server.url)
  } else {
    subscriber = createSubscriber({ connectionString: server.url }, { parse: (text: string) => text, ...options })
    subscriber.events.on('reconnect', () => void events.push({ at: Date.now(), event: 'reconnect' }))
    subscriber.events.on('connected', () => void events.push({ at: Date.now(), event: 'connected' }))
    subscriber.events.on('error', (error) => void events.push({ at: Date.now(), event: 'error', detail: error.message }))
    db = createPgListener(server.url, { source: pgListenSource(subscriber) })
  }
  const states: Participant['states'] = []
  db.state$.subscribe((state) => void states.push({ at: Date.now(), state }))
  const result: Participant = { name, channel, db, received: collect(db.channel(channel)), states, events, ...(subscriber ? { subscriber } : {}) }
  participants.push(result)
  return result
}

const byName = (name: string): Participant => participants.find((p) => p.name === name) as Participant
const afterRestart = (p: Participant) => p.received.values.filter((n) => n.payload === 'after-restart')
const ms = (from: number, to: number | undefined) => (to === undefined ? 'never' : `${Math.round(to - from)} ms`)

beforeAll(async () => {
  server = await startEmbeddedServer()
  const defaults = participant('defaults', {})
  const forever = participant('forever', { retryTimeout: 0 })
  participant('rxpg', 'rxpg')
  await Promise.all(participants.map(async (p) => p.subscriber?.connect()))
  await Promise.all(participants.map((p) => stateOf(p.db, 'connected')))

  await server.stop()
  times.stopped = Date.now()
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
  await server.start()
  times.restarted = Date.now()

  // Send to every channel, round after round, until the listeners that can recover have heard one.
  await eventually(
    async () => {
      await Promise.all(
        participants.map((p) => adminQuery('SELECT pg_notify($1, $2)', [p.channel, 'after-restart'], server.url).catch(() => undefined)),
      )
      return afterRestart(forever).length > 0 && afterRestart(byName('rxpg')).length > 0
    },
    () => `after the restart: ${participants.map((p) => `${p.name} received ${afterRestart(p).length}`).join(', ')}`,
    60_000,
  )

  const report = participants.map((p) => {
    const first = afterRestart(p)[0]
    const reconnects = p.events.filter((e) => e.event === 'reconnect')
    const gaveUp = p.events.find((e) => e.event === 'error')
    const connectedAgain = p.events.find((e) => e.event === 'connected' && e.at > times.restarted)
    const rxpgConnected = p.states.find((s) => s.at > times.restarted && s.state.status === 'connected')
    return {
      listener: p.name,
      'pg-listen reconnect attempts': p.subscriber ? reconnects.length : 'n/a',
      'pg-listen gave up after the stop': gaveUp ? ms(times.stopped, gaveUp.at) : 'no',
      'pg-listen connected after the restart': p.subscriber ? ms(times.restarted, connectedAgain?.at) : 'n/a',
      'rxpg connected after the restart': ms(times.restarted, rxpgConnected?.at),
      'first notification after the restart': ms(times.restarted, first === undefined ? undefined : first.receivedAt),
      'rxpg reconnects (metrics)': p.db.metrics.snapshot().reconnects,
    }
  })
  console.log(`pg-listen outage of ${OUTAGE_MS} ms:`)
  console.table(report)
  void defaults
}, 120_000)

afterAll(async () => {
  const settle = (promise: Promise<unknown> | undefined) =>
    Promise.race([promise?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000))])
  await Promise.all(participants.map((p) => settle(p.db.close())))
  await Promise.all(participants.map((p) => settle(p.subscriber?.close())))
  await server?.destroy()
})

describe('a 10 s outage, pg-listen with its default options', () => {
  it('gives up reconnecting during the outage', () => {
    const defaults = byName('defaults')
    const gaveUp = defaults.events.find((e) => e.event === 'error')
    expect(gaveUp?.detail).toMatch(/Stopping PostgreSQL reconnection attempts after 3000ms/)
    expect(gaveUp?.at).toBeLessThan(times.restarted)
  })

  it('receives nothing after the server is back', () => {
    expect(afterRestart(byName('defaults'))).toEqual([])
  })

  it('is shown by rxpg as reconnecting, with pg-listen\'s surrender as the reason, after the server is back', async () => {
    const defaults = byName('defaults')
    await eventually(
      () => defaults.states.some((s) => s.at > times.restarted && s.state.status === 'reconnecting'),
      () => 'no reconnect attempt after the restart',
    )
    const latest = defaults.states.filter((s) => s.state.status === 'reconnecting').at(-1)?.state
    expect(latest?.status === 'reconnecting' && latest.lastError.info.systemCode).toBe('PG_LISTEN_GAVE_UP')
    expect(defaults.states.some((s) => s.at > times.restarted && s.state.status === 'connected')).toBe(false)
  })
})

describe('a 10 s outage, pg-listen with retryTimeout: 0', () => {
  it('keeps reconnecting through the outage without giving up', () => {
    const forever = byName('forever')
    expect(forever.events.filter((e) => e.event === 'error')).toEqual([])
    expect(forever.events.filter((e) => e.event === 'reconnect').length).toBeGreaterThan(1)
  })

  it('connects again after the server is back, and rxpg LISTENs again and receives', () => {
    const forever = byName('forever')
    expect(forever.events.some((e) => e.event === 'connected' && e.at > times.restarted)).toBe(true)
    expect(afterRestart(forever).length).toBeGreaterThan(0)
    expect(forever.received.errors).toEqual([])
  })

  it('reports the outage as a gap on the connected state', async () => {
    const forever = byName('forever')
    const story = () =>
      [
        ...forever.states.map((s) => ({ at: s.at, what: `state ${s.state.status}${s.state.status === 'connected' && s.state.gap ? ' (gap)' : ''}` })),
        ...forever.events.map((e) => ({ at: e.at, what: `pg-listen ${e.event}` })),
        { at: times.stopped, what: 'server stopped' },
        { at: times.restarted, what: 'server restarted' },
      ]
        .sort((x, y) => x.at - y.at)
        .map((e) => `${e.at - times.stopped} ms ${e.what}`)
        .join('\n')
    // Notifications flow as soon as the LISTENs are in effect, before the self-probe that makes the state
    // `connected`: the notification the setup waited for can come first (seen under load).
    await eventually(() => forever.states.some((s) => s.at > times.restarted && s.state.status === 'connected'), story)
    const reconnected = forever.states.find((s) => s.at > times.restarted && s.state.status === 'connected')?.state
    expect(reconnected?.status === 'connected' && reconnected.gap !== undefined, story()).toBe(true)
  })
})

describe('a 10 s outage, rxpg\'s own pg source (for comparison)', () => {
  it('connects again after the server is back and receives', () => {
    const rxpg = byName('rxpg')
    expect(afterRestart(rxpg).length).toBeGreaterThan(0)
    expect(rxpg.received.errors).toEqual([])
  })
})
