/**
 * Every notification settles within a bounded time, drawn. The sink (`NotifyBatcher`) on a virtual transport:
 * `timeout` bounds the wait to be sent (here 100 frames), `sendTimeout` a batch in flight (here 20), the
 * `connectTimeout` of the listener the wait for a sending connection (here 30), `closeTimeout` what `close()`
 * spends sending what is queued (here 10). One frame is 1 ms; retries wait 100, 200, … ms (no jitter).
 */
import { map, NEVER, throwError } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { ConnectionLostError, ListenerClosedError, NotifyFailedError } from '../lib/index.js'
import { SendFailure } from '../lib/ports/index.js'
import type { NotifyOptions } from '../lib/notify/notify-batcher.js'
import type { NotifyTransport } from '../lib/ports/notify-transport.js'
import { runMarbles, virtualTransport } from '../lib/testing/index.js'
import { sink as sinkWith } from './support/notify-sink.js'

/** Lets settled Promises run their callbacks (close() resolves after the transport has ended). */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve))

const timeouts: NotifyOptions = { timeout: 100, sendTimeout: 20, closeTimeout: 10 }
const sink = (...[transport, scheduler, listening, options]: Parameters<typeof sinkWith>) => sinkWith(transport, scheduler, listening, { ...timeouts, ...options })

/** What pg gives when nothing listens on the server's port: the sending connection is unavailable. */
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
/** What a transaction-mode pooler gives for a statement name its server connection does not know: retried unnamed. */
const unknownStatement = Object.assign(new Error('prepared statement "rxpg_notify_one" does not exist'), { code: '26000' })

describe('notify time-outs', () => {
  it('fails a notification that waited longer than timeout without being sent', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      // The listener never gets its LISTENs in effect, so nothing is sent.
      const { batcher, failures } = sink(transport, scheduler, () => false)
      cold('a 49ms b').subscribe((payload) => batcher.enqueue('orders', payload))
      expectObservable(failures).toBe('100ms a 49ms b', {
        a: new NotifyFailedError({ channel: 'orders', payload: 'a', outcome: 'not-sent', detail: 'not sent within 100 ms (timeout) while waiting for the listener to reconnect' }),
        b: new NotifyFailedError({ channel: 'orders', payload: 'b', outcome: 'not-sent', detail: 'not sent within 100 ms (timeout) while waiting for the listener to reconnect' }),
      })
      expectObservable(transport.batches$).toBe('-')
    }))

  it('gives up on a batch not committed within sendTimeout, as of unknown outcome, and sends the next one', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: (_batch, call) => (call === 1 ? NEVER : cold('-|')) })
      const { batcher, failures } = sink(transport, scheduler)
      cold('a--b').subscribe((payload) => batcher.enqueue('orders', payload))
      expectObservable(failures).toBe('20ms a', {
        a: new NotifyFailedError({
          channel: 'orders',
          payload: 'a',
          outcome: 'unknown',
          systemCode: 'ETIMEDOUT',
          detail: 'no answer within 20 ms (sendTimeout); the sending connection was replaced',
        }),
      })
      // b waited behind the abandoned batch and goes at once after it.
      expectObservable(transport.batches$).toBe('a 19ms b', { a: [{ channel: 'orders', payload: 'a' }], b: [{ channel: 'orders', payload: 'b' }] })
    }))

  it('keeps a batch that found no sending connection within connectTimeout, and retries it after a back-off', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      let calls = 0
      const hanging = virtualTransport()
      // The first send never gets a connection (no DISPATCHED), the second does.
      const transport: NotifyTransport = { ...hanging, send: (batch) => (++calls === 1 ? NEVER : hanging.send(batch)) }
      const { batcher, failures } = sink(transport, scheduler, () => true, { timeout: 1000 })
      cold('a').subscribe((payload) => batcher.enqueue('orders', payload))
      expectObservable(failures).toBe('-')
      // Given up at 30, retried at 130.
      expectObservable(hanging.committed$).toBe('30ms 100ms a', { a: [{ channel: 'orders', payload: 'a' }] })
    }))

  it('counts one reconnect of the sending connection per outage, however many attempts it took, and none without one', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // Calls 1-3 get no connection (one outage: tried at 0, 100, 300), 4 commits at 700; 5 gets none (a second
      // outage), 6 commits 100 ms later; 7 is refused after it was handed to a connection (a statement name a
      // pooler does not know: retried, no outage), 8 commits 100 ms later (the third and fourth calls that reach
      // a connection).
      const down = new Set([1, 2, 3, 5])
      const working = virtualTransport({ answer: (_batch, call) => (call === 3 ? cold('#', undefined, new SendFailure('unavailable', unknownStatement)) : cold('|')) })
      let calls = 0
      const transport: NotifyTransport = { ...working, send: (batch) => (down.has(++calls) ? throwError(() => new SendFailure('unavailable', refused)) : working.send(batch)) }
      const { batcher, failures } = sink(transport, scheduler, () => true, { timeout: 10_000 })
      cold('a 1999ms b 999ms c').subscribe((payload) => batcher.enqueue('orders', payload))
      expectObservable(failures).toBe('-')
      expectObservable(working.committed$.pipe(map(([notification]) => notification?.payload))).toBe('700ms a 1399ms b 999ms c')
      scheduler.schedule(() => expect(batcher.reconnects).toBe(1), 1000)
      scheduler.schedule(() => expect(batcher.reconnects).toBe(2), 2500)
      scheduler.schedule(() => expect(batcher.reconnects).toBe(2), 4000)
    }))

  it('close() sends what is queued while the connection works, and resolves', async () => {
    let closed = false
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('--|') })
      const { batcher } = sink(transport, scheduler)
      cold('a').subscribe((payload) => batcher.enqueue('orders', payload))
      cold('-c').subscribe(() => void batcher.close().then(() => (closed = true)))
      expectObservable(transport.committed$).toBe('--a', { a: [{ channel: 'orders', payload: 'a' }] })
    })
    await settled()
    expect(closed).toBe(true)
  })

  it('close() resolves within closeTimeout when the connection stopped answering, failing what it could not send', async () => {
    const outcomes: Array<{ frame: number; error: unknown }> = []
    let closed = false
    runMarbles(({ cold, scheduler }) => {
      const transport = virtualTransport({ answer: () => NEVER })
      const { batcher } = sink(transport, scheduler)
      const record = (error: unknown) => outcomes.push({ frame: scheduler.now(), error })
      cold('(ab)').subscribe((payload) => batcher.enqueue('orders', payload, { resolve: () => record('resolved'), reject: record }))
      cold('-c').subscribe(() => void batcher.close().then(() => (closed = true)))
    })
    await settled()
    // The batch in flight (a, b) is abandoned at 11, 10 frames after close(); its outcome is unknown.
    expect(outcomes.map((outcome) => outcome.frame)).toEqual([11, 11])
    expect(outcomes.map((outcome) => (outcome.error as NotifyFailedError).info.outcome)).toEqual(['unknown', 'unknown'])
    // Which notification each failure is about (notify$ reports them on errors$, where no caller holds the payload).
    expect(outcomes.map((outcome) => (outcome.error as NotifyFailedError).info.payload)).toEqual(['a', 'b'])
    expect(closed).toBe(true)
  })

  it('close() does not wait for a sending connection that is down, and fails the queue with ListenerClosedError', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('#', undefined, new SendFailure('unavailable', refused)) })
      const { batcher, failures } = sink(transport, scheduler)
      cold('a').subscribe((payload) => batcher.enqueue('orders', payload))
      cold('-----c').subscribe(() => void batcher.close())
      expectObservable(failures).toBe('-----a', { a: new ListenerClosedError({ operation: 'sending a queued notification' }) })
    }))

  it('close() fails each queued notification once when the batch in flight finds the connection down', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      // The batch goes out at close() (the listener's close releases the sends waiting for it), finds no
      // connection and goes back to the queue: failed once with the queue, not again as the batch in flight.
      const transport = virtualTransport({ answer: () => cold('-#', undefined, new SendFailure('unavailable', refused)) })
      const { batcher, failures } = sink(transport, scheduler)
      cold('(abc)').subscribe((payload) => batcher.enqueue('orders', payload))
      cold('c').subscribe(() => void batcher.close())
      const closed = new ListenerClosedError({ operation: 'sending a queued notification' })
      expectObservable(failures).toBe('-(abc)', { a: closed, b: closed, c: closed })
      scheduler.schedule(() => expect(batcher.sendFailures).toBe(3), 50)
    }))

  it('fails each queued notification once when the sending connection is refused for good (a wrong password)', () =>
    runMarbles(({ cold, scheduler }) => {
      const wrongPassword = Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' })
      const transport = virtualTransport({ answer: () => cold('-#', undefined, new SendFailure('unavailable', wrongPassword)) })
      const { batcher, failures } = sink(transport, scheduler)
      const seen: string[] = []
      failures.subscribe((error) => seen.push(error.code))
      cold('(abc)').subscribe((payload) => batcher.enqueue('orders', payload))
      scheduler.schedule(() => {
        expect(seen).toEqual(['CONNECTION_REJECTED', 'CONNECTION_REJECTED', 'CONNECTION_REJECTED'])
        expect(batcher.sendFailures).toBe(3)
      }, 50)
    }))

  it('treats a sending connection that did not open in time as unavailable, not as a failed notification', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const hanging: NotifyTransport = { ...virtualTransport(), send: () => NEVER }
      const { batcher, failures } = sink(hanging, scheduler)
      cold('a').subscribe((payload) => batcher.enqueue('orders', payload))
      // Retried at 30 + 100, 160 + 200, …: only the overall timeout (100) ends it, as not sent.
      const notOpened = new ConnectionLostError({ systemCode: 'ETIMEDOUT', detail: 'no sending connection within 30 ms' })
      expectObservable(failures).toBe('100ms a', {
        a: new NotifyFailedError(
          {
            channel: 'orders',
            payload: 'a',
            outcome: 'not-sent',
            systemCode: 'ETIMEDOUT',
            detail: 'not sent within 100 ms (timeout) while waiting for a sending connection; the last attempt failed: no sending connection within 30 ms',
          },
          { cause: notOpened },
        ),
      })
    }))

  // `rxpg notify` against a port that refused every connection said only that it had waited: the cause was lost.
  it('says why the sending connection could not be opened when the timeout ends the wait', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('-#', undefined, new SendFailure('unavailable', refused)) })
      const { batcher, failures } = sink(transport, scheduler)
      cold('a').subscribe((payload) => batcher.enqueue('orders', payload))
      expectObservable(failures).toBe('100ms a', {
        a: new NotifyFailedError(
          {
            channel: 'orders',
            payload: 'a',
            outcome: 'not-sent',
            systemCode: 'ECONNREFUSED',
            detail: 'not sent within 100 ms (timeout) while waiting for a sending connection; the last attempt failed: connect ECONNREFUSED 127.0.0.1:5432',
          },
          { cause: refused },
        ),
      })
    }))
})
