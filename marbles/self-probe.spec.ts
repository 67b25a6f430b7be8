/**
 * The self-probe, drawn: on every new connection, after the LISTEN batch, the listener commits one NOTIFY to a
 * private channel through the SENDING connection and waits (here 50 frames; default 5 s) for it to arrive on
 * the listening one. Only then is it connected. Committed but never arrived (a transaction-mode pooler) or
 * refused by the server (a read-only replica): `failed` with `DeliveryBrokenError`. Not committed in time, or
 * the sending connection unavailable: a transient failure, the listener reconnects.
 *
 * The real listener runs on `virtualSource(...)` and its `transport`, which delivers what it commits to the
 * connections listening to the channel, as PostgreSQL does. States as letters: c connecting, k connected,
 * r reconnecting, f failed.
 */
import { NEVER, map } from 'rxjs'
import { describe, it } from 'vitest'
import { createPgListener, DeliveryBrokenError, type ListenerState } from '../lib/index.js'
import { SendFailure } from '../lib/ports/index.js'
import { runMarbles, virtualSource, type MarbleHelpers, type VirtualSource } from '../lib/testing/index.js'
import { closeAt, statusLetters } from './support/lifecycle.js'

const statusOf = map((state: ListenerState) => state.status)

/** The real listener on `source` and its transport, with a 50-frame probe; subscribes `orders` at frame 0. */
function probedListener(source: VirtualSource, scheduler: MarbleHelpers['scheduler']) {
  const db = createPgListener('postgres://app@virtual:5432/app', {
    source,
    transport: source.transport,
    scheduler,
    selfProbe: { timeout: 50 },
    healthCheck: false,
    reconnect: { random: () => 0 },
  })
  db.channel('orders').subscribe({ error: () => undefined })
  return db
}

/** What a read-only server answers to NOTIFY: a server error (it has a severity) with SQLSTATE 25006. */
const readOnly = () => Object.assign(new Error('cannot execute NOTIFY during recovery'), { code: '25006', severity: 'ERROR' })

describe('self-probe', () => {
  it('is connected once the probe committed through the sending connection arrives on the listening one', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // Connection 101 opens at 1; the probe is sent at 1 and commits (and arrives) at 4.
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], { answer: () => cold('---|') })
      const db = probedListener(source, scheduler)
      expectObservable(db.state$.pipe(statusOf)).toBe('c---k-----(z|)', statusLetters)
      expectObservable(source.listens$.pipe(map((batch) => batch.add.length))).toBe('-a', { a: 2 })
      closeAt(db, scheduler, 10)
    }))

  it('fails with DeliveryBrokenError when the committed probe never arrives (a transaction-mode pooler)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], { delivers: false })
      const db = probedListener(source, scheduler)
      expectObservable(db.state$).toBe('c 50ms f', {
        c: { status: 'connecting', attempt: 1 },
        f: {
          status: 'failed',
          error: new DeliveryBrokenError({
            reason: 'probe-not-delivered',
            detail: 'a NOTIFY committed through the sending connection did not reach the listening connection within 50 ms',
          }),
        },
      })
    }))

  it('fails with DeliveryBrokenError when the server refuses the NOTIFY (a read-only replica)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], { answer: () => cold('--#', undefined, new SendFailure('rejected', readOnly())) })
      const db = probedListener(source, scheduler)
      expectObservable(db.state$).toBe('c--f', {
        c: { status: 'connecting', attempt: 1 },
        f: {
          status: 'failed',
          error: new DeliveryBrokenError({ reason: 'notify-refused', sqlState: '25006', detail: 'cannot execute NOTIFY during recovery' }),
        },
      })
    }))

  it('tries once more, on a new sending connection, when the sending connection turns out to be unavailable', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], {
        answer: (_batch, call) => (call === 1 ? cold('-#', undefined, new SendFailure('unavailable', refused)) : cold('|')),
      })
      const db = probedListener(source, scheduler)
      expectObservable(db.state$.pipe(statusOf)).toBe('c-k 197ms (z|)', statusLetters)
      closeAt(db, scheduler, 200)
    }))

  it('reconnects, not fails, when the sending connection stays unavailable', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], {
        answer: (_batch, call) => (call <= 2 ? cold('-#', undefined, new SendFailure('unavailable', refused)) : cold('|')),
      })
      const db = probedListener(source, scheduler)
      // The probe and its second try cannot be sent (2, 3): a new connection after 100 ms, whose probe arrives.
      expectObservable(db.state$.pipe(statusOf)).toBe('c--r 99ms ck 95ms (z|)', statusLetters)
      closeAt(db, scheduler, 200)
    }))

  it('reconnects, not fails, when the sending connection does not commit the probe in time (a dead socket)', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualSource([cold('-s', { s: { processId: 101 } })], { answer: (_batch, call) => (call === 1 ? NEVER : cold('|')) })
      const db = probedListener(source, scheduler)
      // Abandoned at 51 (its connection is replaced); the next attempt, 100 ms later, is delivered.
      expectObservable(db.state$.pipe(statusOf)).toBe('c 50ms r 99ms ck 147ms (z|)', statusLetters)
      closeAt(db, scheduler, 300)
    }))
})
