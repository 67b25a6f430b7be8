/**
 * Databases whose encoding is not UTF8. The server converts names and payloads from the client's UTF-8 into
 * its own encoding: a character it has no equivalent for is refused (22P05), and in an encoding where a
 * character takes more bytes than in UTF-8 (EUC_JP: `é` is 3 bytes, 2 in UTF-8) a name within rxpg's 63 bytes
 * of UTF-8 can be longer than the server's 63, which LISTEN truncates without an error. What one channel's name
 * or one payload cannot be must fail that channel or that send alone: never the listener, never the others.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ChannelRefusedError, createPgListener, NotifyFailedError, type PgListener } from '../../lib/index.js'
import { adminQuery, eventually, scratchDatabase, uniqueName, type ScratchDatabase } from '../support/database.js'
import { collect, payloads, stateOf } from '../support/listener.js'

/** A database of `encoding` on the run's server, dropped after the file's specs; undefined without CREATEDB. */
function useDatabase(encoding: string): () => string | undefined {
  let database: ScratchDatabase | undefined
  beforeAll(async () => {
    const [role] = await adminQuery<{ allowed: boolean }>(`SELECT rolsuper OR rolcreatedb AS allowed FROM pg_roles WHERE rolname = current_user`)
    if (role?.allowed === true) database = await scratchDatabase(`rxpg_${encoding}`, { encoding })
  })
  afterAll(async () => {
    await database?.drop()
  })
  return () => database?.url
}

const latin1 = useDatabase('LATIN1')
const eucJp = useDatabase('EUC_JP')

const open: PgListener[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
})

function listenerOn(url: string, options: Parameters<typeof createPgListener>[1] = {}): PgListener {
  const db = createPgListener(url, options)
  open.push(db)
  return db
}

describe('a database in LATIN1', () => {
  it('fails a channel whose name it cannot hold, alone: the listener stays connected and the other channels receive', async (context) => {
    const url = latin1()
    if (url === undefined) return context.skip()
    const db = listenerOn(url)
    const plain = uniqueName('plain')
    const received = collect(db.channel(plain))
    // Asked for in the same first batch as the plain channel.
    const refused = collect(db.channel('orders 😀'))
    const later = collect(db.channel(`${plain}-later`))
    await stateOf(db, 'connected')
    await eventually(() => refused.errors.length === 1, () => 'the refused channel never errored')
    const error = refused.errors[0]
    expect(error).toBeInstanceOf(ChannelRefusedError)
    expect(error).toMatchObject({ code: 'CHANNEL_REFUSED', info: { channel: 'orders 😀', reason: 'server-refused', sqlState: '22P05' } })
    expect((error as Error).message).toMatch(/^rxpg: the server refused to LISTEN to "orders 😀" \(22P05: character with byte sequence 0xf0 0x9f 0x98 0x80 in encoding "UTF8" has no equivalent in encoding "LATIN1"\)/)

    await db.notify(plain, 'after')
    await db.notify(`${plain}-later`, 'later too')
    await eventually(() => received.values.length === 1 && later.values.length === 1, () => 'the other channels received nothing')
    expect(payloads(received.values)).toEqual(['after'])
    expect(db.metrics.snapshot().reconnectAttempts).toBe(0)

    // A refused channel subscribed while the listener is connected fails too, and again on a new subscription.
    const again = collect(db.channel('orders 😀'))
    await eventually(() => again.errors.length === 1, () => 'the second subscription never errored')
    expect(again.errors[0]).toBeInstanceOf(ChannelRefusedError)
    expect(db.metrics.snapshot().reconnectAttempts).toBe(0)
    await db.notify(plain, 'still')
    await eventually(() => received.values.length === 2, () => 'the plain channel stopped receiving')
  })

  it('fails a send whose payload it cannot hold, alone: the others of its batch are sent', async (context) => {
    const url = latin1()
    if (url === undefined) return context.skip()
    const db = listenerOn(url)
    const channel = uniqueName('batch')
    const other = uniqueName('other')
    const received = collect(db.channel(channel))
    const otherReceived = collect(db.channel(other))
    await stateOf(db, 'connected')
    const outcomes = await Promise.allSettled([db.notify(channel, 'one'), db.notify(channel, 'two 😀'), db.notify(other, 'three, another channel'), db.notify(channel, 'four')])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const failure = (outcomes[1] as PromiseRejectedResult).reason
    expect(failure).toBeInstanceOf(NotifyFailedError)
    expect(failure).toMatchObject({ info: { channel, outcome: 'not-sent', sqlState: '22P05' } })
    await eventually(() => received.values.length === 2 && otherReceived.values.length === 1, () => `received ${JSON.stringify(payloads(received.values))}`)
    expect(payloads(received.values)).toEqual(['one', 'four'])
    expect(payloads(otherReceived.values)).toEqual(['three, another channel'])
  })
})

describe('a database in EUC_JP', () => {
  it('fails a channel whose name the server truncates (longer than 63 bytes in its encoding) at the health check, without reconnecting', async (context) => {
    const url = eucJp()
    if (url === undefined) return context.skip()
    const db = listenerOn(url, { healthCheck: { interval: 200 } })
    const plain = uniqueName('plain')
    const received = collect(db.channel(plain))
    // 62 bytes of UTF-8, 93 in EUC_JP: the server listens to its first 21 characters.
    const long = 'é'.repeat(31)
    const truncated = collect(db.channel(long))
    await stateOf(db, 'connected')
    await eventually(() => truncated.errors.length === 1, () => 'the truncated channel never errored')
    expect(truncated.errors[0]).toBeInstanceOf(ChannelRefusedError)
    expect(truncated.errors[0]).toMatchObject({ info: { channel: long, reason: 'truncated-by-server', listenedAs: 'é'.repeat(21) } })
    expect((truncated.errors[0] as Error).message).toMatch(/longer than 63 bytes in the database's encoding/)
    // Two more health checks: the server's LISTEN set is in step again.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(db.metrics.snapshot().reconnectAttempts).toBe(0)
    await db.notify(plain, 'fine')
    await eventually(() => received.values.length === 1, () => 'the plain channel received nothing')
  })

  // A new user's trial: with the prefix wanted too, the health check took the one name on the server for a set out
  // of step and reconnected every interval for ever; the prefix's channel lost notifications at each reconnection.
  it('fails a channel truncated to a name it also listens to, and keeps that channel, without reconnecting', async (context) => {
    const url = eucJp()
    if (url === undefined) return context.skip()
    const db = listenerOn(url, { healthCheck: { interval: 200 } })
    const prefix = 'é'.repeat(21)
    const kept = collect(db.channel(prefix))
    const truncated = collect(db.channel('é'.repeat(31)))
    await stateOf(db, 'connected')
    await eventually(() => truncated.errors.length === 1, () => 'the truncated channel never errored')
    expect(truncated.errors[0]).toMatchObject({ info: { reason: 'truncated-by-server', listenedAs: prefix } })
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(db.metrics.snapshot().reconnectAttempts).toBe(0)
    expect(kept.errors).toEqual([])
    await db.notify(prefix, 'still here')
    await eventually(() => kept.values.length === 1, () => 'the prefix channel received nothing')
  })
})
