import { describe, expect, it } from 'vitest'
import { createPgListener, type ListenerLogEntry } from '../../lib/index.js'
import { databaseUrl, eventually } from '../support/database.js'
import { collect, stateOf } from '../support/listener.js'
import { EMBEDDED_PASSWORD } from '../../support/embedded-server.js'

describe('debug log', () => {
  it('tells states, LISTEN batches and sends, with channel names and counts but no payload or password', async () => {
    const entries: ListenerLogEntry[] = []
    const db = createPgListener(databaseUrl(), { log: (entry) => entries.push(entry) })
    const received = collect(db.channel('logged'))
    await stateOf(db, 'connected')
    await db.notify('logged', 'secret payload 42')
    await eventually(() => received.values.length === 1, () => 'not received')
    await db.close()

    const events = entries.map((entry) => entry.event)
    expect(events).toContain('listen')
    expect(events).toContain('send')
    expect(entries.filter((e) => e.event === 'state').map((e) => (e as { state: { status: string } }).state.status)).toEqual([
      'connecting',
      'connected',
      'closed',
    ])
    expect(entries).toContainEqual({ event: 'send', notifications: 1, channels: ['logged'] })
    const text = JSON.stringify(entries)
    expect(text).not.toContain('secret payload 42')
    expect(text).not.toContain(EMBEDDED_PASSWORD)
  })

  it('logs a rejected connection without its password', async () => {
    const entries: ListenerLogEntry[] = []
    const db = createPgListener(databaseUrl().replace(/:[^:@/]*@/, ':wrong-s3cret-pw@'), { log: (entry) => entries.push(entry) })
    db.channel('logged').subscribe({ error: () => undefined })
    await stateOf(db, 'failed')
    await db.close()
    const text = JSON.stringify(entries, (_key, value: unknown) => (value instanceof Error ? { ...value, message: value.message } : value))
    expect(text).toContain('password authentication failed')
    expect(text).not.toContain('wrong-s3cret-pw')
  })
})
