/**
 * pgListenSource against the real PostgreSQL: a pg-listen subscriber, connected the way pg-listen users
 * connect it, as the source of an rxpg listener.
 */
import pgListen, { type Options as PgListenOptions, type Subscriber } from 'pg-listen'
import { afterEach, describe, expect, it } from 'vitest'
import { createPgListener, type ListenerState, type PgListener } from '../../lib/index.js'
import { pgListenSource } from '../../lib/pg-listen/index.js'
import { adminQuery, databaseUrl, eventually, terminateBackend, uniqueName } from '../support/database.js'
import { collect, payloads, stateOf } from '../support/listener.js'

const createSubscriber = pgListen.default

const subscribers: Subscriber[] = []
const listeners: PgListener[] = []
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((db) => db.close()))
  await Promise.all(subscribers.splice(0).map((subscriber) => subscriber.close().catch(() => undefined)))
})

/** A connected pg-listen subscriber (exact payloads unless `options` say otherwise) and an rxpg listener on it. */
async function listenerOnPgListen(options: PgListenOptions = { parse: (text: string) => text }): Promise<{ db: PgListener; subscriber: Subscriber }> {
  const subscriber = createSubscriber({ connectionString: databaseUrl() }, options)
  subscribers.push(subscriber)
  await subscriber.connect()
  const db = createPgListener(databaseUrl(), { source: pgListenSource(subscriber) })
  listeners.push(db)
  return { db, subscriber }
}

async function sendFromElsewhere(channel: string, payload: string): Promise<void> {
  await adminQuery('SELECT pg_notify($1, $2)', [channel, payload])
}

describe('pgListenSource', () => {
  it('receives notifications on a subscribed channel, payloads exact', async () => {
    const { db } = await listenerOnPgListen()
    const channel = uniqueName('pgl-receive')
    const received = collect(db.channel(channel))
    await stateOf(db, 'connected')
    await sendFromElsewhere(channel, '{ "id" : 1 }')
    await sendFromElsewhere(channel, '')
    await eventually(() => received.values.length === 2, () => `received ${JSON.stringify(payloads(received.values))}`)
    expect(payloads(received.values)).toEqual(['{ "id" : 1 }', ''])
  })

  it('reports connected with the process id of pg-listen\'s backend', async () => {
    const { db } = await listenerOnPgListen()
    db.channel(uniqueName('pgl-pid')).subscribe()
    const { processId } = await stateOf(db, 'connected')
    const rows = await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid = $1', [processId])
    expect(rows).toHaveLength(1)
  })

  it('keeps channel names exact: case, quotes and unicode are distinct channels', async () => {
    const { db } = await listenerOnPgListen()
    const prefix = uniqueName('pgl')
    const names = [`${prefix}-Orders`, `${prefix}-orders`, `${prefix}-"quoted" name`, `${prefix}-ünïcødé ✓`]
    const received = names.map((name) => collect(db.channel(name)))
    await stateOf(db, 'connected')
    for (const name of names) await sendFromElsewhere(name, name)
    await eventually(
      () => received.every((r) => r.values.length > 0),
      () => JSON.stringify(received.map((r) => payloads(r.values))),
    )
    await sendFromElsewhere(names[0] as string, 'last')
    await eventually(() => received[0]?.values.length === 2, () => 'the last notification did not arrive')
    expect(received.map((r) => payloads(r.values))).toEqual([[names[0], 'last'], [names[1]], [names[2]], [names[3]]])
  })

  it('after pg_terminate_backend of its backend, shows reconnecting, gets connected again with the gap, and receives', async () => {
    const { db } = await listenerOnPgListen()
    const channel = uniqueName('pgl-terminate')
    const received = collect(db.channel(channel))
    const states = collect(db.state$)
    const { processId } = await stateOf(db, 'connected')

    await terminateBackend(processId)
    await eventually(
      () => states.values.some((state) => state.status === 'connected' && state.gap !== undefined),
      () => `states: ${states.values.map((state) => state.status).join(' ')}`,
    )
    await sendFromElsewhere(channel, 'after')
    await eventually(() => received.values.length === 1, () => 'nothing received after the reconnect')

    const reconnecting = states.values.find((state): state is Extract<ListenerState, { status: 'reconnecting' }> => state.status === 'reconnecting')
    expect(reconnecting?.lastError.info.systemCode).toBe('PG_LISTEN_RECONNECTING')
    const reconnected = states.values.at(-1)
    expect(reconnected).toMatchObject({ status: 'connected' })
    expect(reconnected?.status === 'connected' && reconnected.processId).not.toBe(processId)
    expect(received.errors).toEqual([])
  })

  it('with pg-listen\'s default JSON parse, re-serialises JSON payloads and loses the others', async () => {
    const { db } = await listenerOnPgListen({})
    const channel = uniqueName('pgl-json')
    const received = collect(db.channel(channel))
    await stateOf(db, 'connected')
    await sendFromElsewhere(channel, '{ "id" : 1 }')
    await sendFromElsewhere(channel, 'not json')
    await sendFromElsewhere(channel, '"text"')
    await eventually(() => received.values.length === 2, () => `received ${JSON.stringify(payloads(received.values))}`)
    expect(payloads(received.values)).toEqual(['{"id":1}', 'text'])
  })

  it('UNLISTENs its channels on close() and leaves the pg-listen subscriber working', async () => {
    const { db, subscriber } = await listenerOnPgListen()
    const channel = uniqueName('pgl-close')
    db.channel(channel).subscribe()
    await stateOf(db, 'connected')
    expect(subscriber.getSubscribedChannels()).toContain(channel)
    await db.close()
    expect(subscriber.getSubscribedChannels()).not.toContain(channel)

    const own = uniqueName('pgl-own')
    const heard: unknown[] = []
    subscriber.notifications.on(own, (payload: unknown) => heard.push(payload))
    await subscriber.listenTo(own)
    await sendFromElsewhere(own, 'still here')
    await eventually(() => heard.length === 1, () => 'the pg-listen subscriber no longer receives')
    expect(heard).toEqual(['still here'])
  })

  it('has UNLISTENed its channels and its probe when close() resolves: a channel the application LISTENs to right after stays', async () => {
    const { db, subscriber } = await listenerOnPgListen()
    const names = ['a', 'b', 'c'].map((name) => uniqueName(`pgl-handback-${name}`))
    for (const name of names) db.channel(name).subscribe()
    await stateOf(db, 'connected')
    await db.close()
    expect(subscriber.getSubscribedChannels()).toEqual([])
    // Handed back at shutdown: the application takes a channel over at once.
    const taken = names[2] as string
    const heard: unknown[] = []
    subscriber.notifications.on(taken, (payload: unknown) => heard.push(payload))
    await subscriber.listenTo(taken)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await sendFromElsewhere(taken, 'for the application')
    await eventually(() => heard.length === 1, () => `LISTENed: ${subscriber.getSubscribedChannels().join(', ')}`)
    expect(subscriber.getSubscribedChannels()).toEqual([taken])
  })

  it('leaves channels the application LISTENs to through pg-listen itself alone', async () => {
    const { db, subscriber } = await listenerOnPgListen()
    const own = uniqueName('pgl-app')
    await subscriber.listenTo(own)
    const channel = uniqueName('pgl-rxpg')
    const subscription = db.channel(channel).subscribe()
    await stateOf(db, 'connected')
    subscription.unsubscribe()
    await eventually(() => !subscriber.getSubscribedChannels().includes(channel), () => 'rxpg did not UNLISTEN its channel')
    expect(subscriber.getSubscribedChannels()).toContain(own)
  })

  it('leaves a channel alone that the application LISTENed to before rxpg subscribed to it too', async () => {
    const { db, subscriber } = await listenerOnPgListen()
    const shared = uniqueName('pgl-shared')
    const heard: unknown[] = []
    subscriber.notifications.on(shared, (payload: unknown) => heard.push(payload))
    await subscriber.listenTo(shared)
    const subscription = db.channel(shared).subscribe()
    await stateOf(db, 'connected')
    subscription.unsubscribe()
    await db.close()
    expect(subscriber.getSubscribedChannels()).toContain(shared)
    await sendFromElsewhere(shared, 'for the application')
    await eventually(() => heard.length === 1, () => 'the application no longer hears its own channel')
  })

  it("keeps its health check quiet about a channel it left to the application, and UNLISTENs it once the application has let it go", async () => {
    const subscriber = createSubscriber({ connectionString: databaseUrl() }, { parse: (text: string) => text })
    subscribers.push(subscriber)
    await subscriber.connect()
    const shared = uniqueName('pgl-left')
    await subscriber.listenTo(shared)
    const db = createPgListener(databaseUrl(), { source: pgListenSource(subscriber), healthCheck: { interval: 100, timeout: 2000 } })
    listeners.push(db)
    db.channel(uniqueName('pgl-other')).subscribe()
    const first = db.channel(shared).subscribe()
    await stateOf(db, 'connected')
    const states = collect(db.state$)
    first.unsubscribe()
    // A window of several health checks: none may find the application's channel out of step.
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(states.values.filter((state: ListenerState) => state.status !== 'connected')).toEqual([])

    await subscriber.unlisten(shared) // the application is done with it
    const second = db.channel(shared).subscribe() // now rxpg's alone
    await eventually(() => subscriber.getSubscribedChannels().includes(shared), () => 'rxpg did not LISTEN')
    second.unsubscribe()
    await eventually(() => !subscriber.getSubscribedChannels().includes(shared), () => 'rxpg left its own LISTEN behind')
  })

  it('gives the subscriber back as it was on close(): no probe LISTEN left, no listener of its own on the events', async () => {
    const subscriber = createSubscriber({ connectionString: databaseUrl() }, { parse: (text: string) => text })
    subscribers.push(subscriber)
    await subscriber.connect()
    const events = ['notification', 'error', 'reconnect', 'connected'] as const
    const counts = () => events.map((event) => subscriber.events.listenerCount(event))
    const before = { counts: counts(), channels: subscriber.getSubscribedChannels() }
    for (let cycle = 0; cycle < 3; cycle++) {
      const db = createPgListener(databaseUrl(), { source: pgListenSource(subscriber) })
      db.channel(uniqueName('pgl-cycle')).subscribe()
      await stateOf(db, 'connected')
      await db.close()
    }
    await eventually(() => subscriber.getSubscribedChannels().length === before.channels.length, () => `left LISTENed: ${subscriber.getSubscribedChannels().join(', ')}`)
    expect(counts()).toEqual(before.counts)
  })
})
