/**
 * The notify$ sink's batching, drawn: what each `notify$.next()` becomes on the sending connection. Above, the
 * calls (one letter per notification); below, `batches$`, one value per round trip (one transaction) with the
 * notifications it carries, in order. One frame is 1 ms; retries wait 100, 200, … ms (no jitter).
 */
import type { Observable } from 'rxjs'
import { describe, it } from 'vitest'
import type { NotifyBatcher, NotifyOptions } from '../lib/notify/notify-batcher.js'
import { SendFailure, type NotifyTransport, type OutgoingNotification } from '../lib/ports/notify-transport.js'
import { runMarbles, virtualTransport, type MarbleHelpers } from '../lib/testing/index.js'
import { refusedByNetwork } from './support/lifecycle.js'
import { sink } from './support/notify-sink.js'

const a: OutgoingNotification = { channel: 'orders', payload: '1' }
const b: OutgoingNotification = { channel: 'orders', payload: '2' }
const c: OutgoingNotification = { channel: 'refunds', payload: '1' }
const calls = { a, b, c }

/** The sink on `transport`, its LISTENs always in effect, a sending connection waited for 10 s. */
function batcherOn(transport: NotifyTransport, scheduler: MarbleHelpers['scheduler'], options: NotifyOptions = {}): NotifyBatcher {
  return sink(transport, scheduler, () => true, options, 10_000).batcher
}

/** Calls `notify$.next()` for each drawn notification, in its frame. */
function sendAll(batcher: NotifyBatcher, drawn: Observable<OutgoingNotification>): void {
  drawn.subscribe((notification) => batcher.enqueue(notification.channel, notification.payload))
}

const unavailable = () => new SendFailure('unavailable', refusedByNetwork())

describe('batching window', () => {
  it('sends the calls of one frame in one round trip', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      sendAll(batcherOn(transport, scheduler), cold('   (abc)', calls))
      expectObservable(transport.batches$).toBe('x', { x: [a, b, c] })
    }))

  it('with batchWindow, lets the first call wait that long for others to join it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      sendAll(batcherOn(transport, scheduler, { batchWindow: 5 }), cold('a-b-c', calls))
      expectObservable(transport.batches$).toBe('                         -----x', { x: [a, b, c] })
    }))

  it('ends a batch before a repeated (channel, payload) pair, which PostgreSQL would fold into one', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('-') })
      sendAll(batcherOn(transport, scheduler), cold('(aba)', calls))
      // The batch never commits: within notify.sendTimeout nothing else is sent.
      expectObservable(transport.batches$, '^ 4998ms !').toBe('x', { x: [a, b] })
    }))

  it('puts at most maxBatchSize calls in one round trip', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('-') })
      sendAll(batcherOn(transport, scheduler, { maxBatchSize: 2 }), cold('(abc)', calls))
      expectObservable(transport.batches$, '^ 4998ms !').toBe('x', { x: [a, b] })
    }))


  it('sends the repeat of a (channel, payload) pair in the next transaction', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('-|') })
      sendAll(batcherOn(transport, scheduler), cold('(aba)', calls))
      expectObservable(transport.batches$).toBe('     xy', { x: [a, b], y: [a] })
    }))

  it('lets the next batch fill up while one is in flight', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: () => cold('---|') })
      sendAll(batcherOn(transport, scheduler), cold('a-bc-', calls))
      expectObservable(transport.batches$).toBe('     x--y', { x: [a], y: [b, c] })
    }))

  it('sends calls that come after a batch was committed in a new batch', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport()
      sendAll(batcherOn(transport, scheduler), cold('a-b', calls))
      expectObservable(transport.batches$).toBe('     x-y', { x: [a], y: [b] })
    }))

  it('retries a batch the transport could not send after 100 ms, then 200 ms, in order, with what came meanwhile', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const transport = virtualTransport({ answer: (_batch, call) => (call < 3 ? cold('-#', undefined, unavailable()) : cold('-|')) })
      sendAll(batcherOn(transport, scheduler), cold('(ab) 46ms c', calls))
      expectObservable(transport.batches$).toBe('      x 100ms y 200ms z', { x: [a, b], y: [a, b, c], z: [a, b, c] })
    }))
})
