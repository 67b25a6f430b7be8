import pg from 'pg'
import { map } from 'rxjs'
import { describe, it } from 'vitest'
import type { ListenerState } from '../lib/index.js'
import { notification, runMarbles } from '../lib/testing/index.js'
import { LogContext, resolveOptions, wakeChannelOf } from '../lib/durable/log-context.js'

// When a durable reader reads: a wake-up for its channel (a NOTIFY on the log's wake channel, or a commit in this
// process), every (re)connection of the listener, and the poll back-stop. Drawn with the virtual listener;
// nothing here touches the (never connected) pool.

const schema = 'app'
const wake = wakeChannelOf(schema)
const connected: ListenerState = { status: 'connected', processId: 1 }
const reconnected: ListenerState = { status: 'connected', processId: 2, gap: { since: 0, duration: 5 } }
const reconnecting = { status: 'reconnecting', attempt: 1, delay: 5, lastError: undefined } as unknown as ListenerState

function contextOn(listener: ConstructorParameters<typeof LogContext>[0]['listener'], scheduler: Parameters<typeof resolveOptions>[0]['scheduler'], pollInterval: number) {
  const options = { listener, pool: new pg.Pool(), schema, scheduler, pollInterval }
  return new LogContext(options, resolveOptions(options), scheduler!, schema)
}

describe('read triggers', () => {
  // The virtual listener connects (a `connected` state) when the reader subscribes: the read at frame 0.
  it('reads on a wake-up for its own channel only, as it arrives', () =>
    runMarbles(({ virtualListener, scheduler, expectObservable }) => {
      const db = virtualListener({
        channels: { [wake]: '-o-x-o--' },
        values: { o: notification(wake, 'orders'), x: notification(wake, 'invoices') },
      })
      const context = contextOn(db, scheduler, 1000)
      expectObservable(context.readTriggers('orders').pipe(map(() => 'r')), '--------!').toBe('rr---r--')
    }))

  it('reads on every connection of the listener, the first one and each after a gap', () =>
    runMarbles(({ virtualListener, scheduler, hot, expectObservable }) => {
      const db = virtualListener({ state: hot('c--g--C--', { c: connected, g: reconnecting, C: reconnected }) })
      const context = contextOn(db, scheduler, 1000)
      expectObservable(context.readTriggers('orders').pipe(map(() => 'r')), '---------!').toBe('r-----r--')
    }))

  it('reads every poll interval whatever else happens (the back-stop), and at once on a local commit', () =>
    runMarbles(({ virtualListener, scheduler, cold, expectObservable }) => {
      const db = virtualListener()
      const context = contextOn(db, scheduler, 4)
      cold('--a|').subscribe(() => context.wake('orders'))
      expectObservable(context.readTriggers('orders').pipe(map(() => 'r')), '-------------!').toBe('r-r-r---r---r')
    }))

  it('completes when the log closes', () =>
    runMarbles(({ virtualListener, scheduler, cold, expectObservable }) => {
      const context = contextOn(virtualListener(), scheduler, 4)
      cold('------|').subscribe({ complete: () => context.close() })
      expectObservable(context.readTriggers('orders').pipe(map(() => 'r'))).toBe('r---r-|')
    }))
})
