/**
 * Acknowledgements made while no session is open: a batch job takes a few changes (`take` unsubscribes the last
 * subscriber, so the stream goes idle and its session ends), then acknowledges them, then closes. No status
 * update can carry them: a short session reports them, statusInterval after the acknowledgement or at close(),
 * whichever comes first, and close() says so when it cannot. One frame is 1 ms; status updates every 10 ms.
 */
import { take } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, ReplicationStreamClosedError, started, virtualReplicationSource, type ChangeStream, type ReplicationMetricsSnapshot, type VirtualReplicationScript } from '../lib/replication/index.js'
import { runMarbles, type MarbleHelpers } from '../lib/testing/index.js'
import { refusedByNetwork, virtualChangeStream } from './support/replication.js'

const positionOf = (item: unknown) => (item as { position: string }).position
const status = (written: string, flushed: string, replyRequested = false, processId = 101) => ({ processId, written, flushed, replyRequested })

/** A transaction committed at 0/2000000 (its record ends at 0/2000100) with two inserts; the slot is at 0/1000000. */
const twoRows = { s: started, b: begin('0/2000000'), x: insert('orders', { id: 1 }), y: insert('orders', { id: 2 }), c: commit('0/2000000', '0/2000100') }

/** The first connection: it streams the transaction one frame after it opens; both changes are delivered then. */
const firstSession = (cold: MarbleHelpers['cold']) => cold<VirtualReplicationScript>('-s', { s: { stream: () => cold('s(bxyc)', twoRows) } })

/**
 * The batch job's read: subscribed at frame 1 (after the recorders), connected at 2, both changes at 3, where
 * `take(2)` unsubscribes and the stream goes idle. Returns the positions delivered.
 */
function takeTwo(stream: ChangeStream<unknown>, scheduler: MarbleHelpers['scheduler']): string[] {
  const batch: string[] = []
  scheduler.schedule(() => stream.changes$.pipe(take(2)).subscribe((change) => batch.push(positionOf(change))), 1)
  return batch
}

/** At frame 5, the batch job acknowledges what it took and closes the stream: `job.closing` is close()'s outcome. */
function ackAndClose(stream: ChangeStream<unknown>, batch: readonly string[], scheduler: MarbleHelpers['scheduler'], job: { closing?: Promise<void> }): void {
  scheduler.schedule(() => {
    for (const position of batch) stream.ack(position)
    job.closing = stream.close()
  }, 5)
}

describe('replication: acknowledgements made while idle', () => {
  it('refuses an acknowledgement made after close(), which no session would report: ReplicationStreamClosedError', () => {
    let refused: unknown
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([firstSession(cold)])
      const stream = virtualChangeStream(source, scheduler)
      const batch = takeTwo(stream, scheduler)
      scheduler.schedule(() => {
        void stream.close().catch(() => undefined)
        try {
          stream.ack(batch[1] as string)
        } catch (error) {
          refused = error
        }
      }, 5)
    })
    expect(refused).toBeInstanceOf(ReplicationStreamClosedError)
    expect(refused).toMatchObject({ code: 'REPLICATION_STREAM_CLOSED', info: { operation: 'ack' } })
    expect((refused as Error).message).toMatch(/resumeAfter/)
  })

  it('reports them at close() on a short session, which asks the server to answer, and resolves once it has', async () => {
    let closing: Promise<void> | undefined
    const seen: Record<string, ReplicationMetricsSnapshot> = {}
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([firstSession(cold), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      const batch = takeTwo(stream, scheduler)
      scheduler.schedule(() => {
        for (const position of batch) stream.ack(position)
        seen.before = stream.metrics.snapshot()
        closing = stream.close()
      }, 5)
      scheduler.schedule(() => (seen.after = stream.metrics.snapshot()), 20)
      expectObservable(source.connects$).toBe('-a---b', { a: 1, b: 2 })
      // The short session starts where the acknowledgements put the slot: the server sends nothing delivered already.
      expectObservable(source.starts$).toBe('--a---b', { a: '0/0', b: '0/2000100' })
      expectObservable(source.statusUpdates$).toBe('---a--b', {
        // When take(2) left: nothing was acknowledged yet.
        a: status('0/2000100', '0/1000000'),
        b: status('0/2000100', '0/2000100', true, 102),
      })
      expectObservable(source.ends$).toBe('---a--b', { a: 101, b: 102 })
    })
    await expect(closing).resolves.toBeUndefined()
    // Before: acknowledged locally, not yet on the slot; after: the server has it.
    expect(seen.before).toMatchObject({ acknowledged: 2, unacknowledged: 0, acknowledgedLsn: '0/2000100', confirmedLsn: '0/1000000' })
    expect(seen.after).toMatchObject({ acknowledgedLsn: '0/2000100', confirmedLsn: '0/2000100', statusUpdates: 2 })
  })

  it('reports them statusInterval after the acknowledgement without waiting for close(), once', async () => {
    let closing: Promise<void> | undefined
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([firstSession(cold), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      const batch = takeTwo(stream, scheduler)
      scheduler.schedule(() => stream.ack(batch[0] as string), 5)
      scheduler.schedule(() => stream.ack(batch[1] as string), 8)
      // Nothing is left to report by then: close() opens no session.
      scheduler.schedule(() => (closing = stream.close()), 40)
      expectObservable(source.connects$).toBe('-a 13ms b', { a: 1, b: 2 })
      expectObservable(source.statusUpdates$).toBe('---a 12ms b', { a: status('0/2000100', '0/1000000'), b: status('0/2000100', '0/2000100', true, 102) })
      expectObservable(source.ends$).toBe('---a 12ms b', { a: 101, b: 102 })
      expectObservable(stream.state$, '4ms ^').toBe('----i 35ms (z|)', { i: { status: 'idle' }, z: { status: 'closed' } })
    })
    await expect(closing).resolves.toBeUndefined()
  })

  it('leaves them to the next session when a subscriber comes back before the report is due', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([firstSession(cold), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { frames: 60 })
      const batch = takeTwo(stream, scheduler)
      scheduler.schedule(() => batch.forEach((position) => stream.ack(position)), 5)
      scheduler.schedule(() => stream.changes$.subscribe(), 8)
      // One connection more, the subscriber's: it starts after what was delivered and reports on its first tick.
      expectObservable(source.connects$).toBe('-a 6ms b', { a: 1, b: 2 })
      expectObservable(source.starts$).toBe('--a 6ms b', { a: '0/0', b: '0/2000100' })
      expectObservable(source.statusUpdates$).toBe('---a 15ms b', { a: status('0/2000100', '0/1000000'), b: status('0/2000100', '0/2000100', false, 102) })
    }))

  it('opens no session at close() when everything acknowledged was reported', async () => {
    let closing: Promise<void> | undefined
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([firstSession(cold), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      takeTwo(stream, scheduler)
      scheduler.schedule(() => (closing = stream.close()), 5)
      expectObservable(source.connects$).toBe('-a', { a: 1 })
    })
    await expect(closing).resolves.toBeUndefined()
  })

  it('takes a slot already confirmed past them (another consumer moved it) as reported, without starting replication', async () => {
    const job: { closing?: Promise<void> } = {}
    let after: ReplicationMetricsSnapshot | undefined
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const ahead = { facts: { slot: { confirmedFlush: '0/2500000' } } }
      const source = virtualReplicationSource([firstSession(cold), cold('-s', { s: ahead })])
      const stream = virtualChangeStream(source, scheduler)
      const batch = takeTwo(stream, scheduler)
      ackAndClose(stream, batch, scheduler, job)
      scheduler.schedule(() => (after = stream.metrics.snapshot()), 20)
      expectObservable(source.starts$).toBe('--a', { a: '0/0' })
      expectObservable(source.ends$).toBe('---a--b', { a: 101, b: 102 })
    })
    await expect(job.closing).resolves.toBeUndefined()
    expect(after).toMatchObject({ acknowledgedLsn: '0/2000100', confirmedLsn: '0/2500000' })
  })

  it('with the server down, retries with back-off for at most connectTimeout, then rejects close() with AcknowledgementsNotReportedError', async () => {
    let closing: Promise<void> | undefined
    let after: ReplicationMetricsSnapshot | undefined
    let token = ''
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const down = cold<VirtualReplicationScript>('-#', undefined, refusedByNetwork())
      const source = virtualReplicationSource([firstSession(cold), down])
      const stream = virtualChangeStream(source, scheduler, { connectTimeout: 1000, frames: 3000 })
      const batch = takeTwo(stream, scheduler)
      scheduler.schedule(() => {
        batch.forEach((position) => stream.ack(position))
        token = batch[1] as string
        closing = stream.close()
        closing.catch(() => (after = stream.metrics.snapshot()))
      }, 5)
      // Refused at 6, 107, 308 and 709; the next attempt would be at 1509, past the deadline (1005).
      expectObservable(source.connects$).toBe('-a---b 100ms c 200ms d 400ms e', { a: 1, b: 2, c: 3, d: 4, e: 5 })
      expectObservable(source.statusUpdates$).toBe('---a', { a: status('0/2000100', '0/1000000') })
    })
    await expect(closing).rejects.toMatchObject({
      name: 'AcknowledgementsNotReportedError',
      code: 'REPLICATION_ACKS_NOT_REPORTED',
      info: { slot: 'orders_feed', acknowledgedLsn: '0/2000100', confirmedLsn: '0/1000000', position: token, systemCode: 'ECONNREFUSED' },
      cause: { name: 'ConnectionLostError' },
    })
    expect(after).toMatchObject({ acknowledgedLsn: '0/2000100', confirmedLsn: '0/1000000' })
  })

  it('rejects close() at connectTimeout when the server does not answer the status update', async () => {
    const job: { closing?: Promise<void> } = {}
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const silent = cold<VirtualReplicationScript>('-s', { s: { answersProbes: false } })
      const source = virtualReplicationSource([firstSession(cold), silent])
      const stream = virtualChangeStream(source, scheduler, { connectTimeout: 100 })
      const batch = takeTwo(stream, scheduler)
      ackAndClose(stream, batch, scheduler, job)
      expectObservable(source.statusUpdates$).toBe('---a--b', { a: status('0/2000100', '0/1000000'), b: status('0/2000100', '0/2000100', true, 102) })
      // Given up at the deadline, 100 ms after close(): the session ends then.
      expectObservable(source.ends$).toBe('---a 101ms b', { a: 101, b: 102 })
    })
    await expect(job.closing).rejects.toMatchObject({ name: 'AcknowledgementsNotReportedError', info: { systemCode: 'ETIMEDOUT' } })
  })

  it('rejects close() at once for a slot that is gone, a failure no retry can fix', async () => {
    const job: { closing?: Promise<void> } = {}
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const dropped = cold<VirtualReplicationScript>('-s', { s: { facts: { slot: null } } })
      const source = virtualReplicationSource([firstSession(cold), dropped])
      const stream = virtualChangeStream(source, scheduler)
      const batch = takeTwo(stream, scheduler)
      ackAndClose(stream, batch, scheduler, job)
      expectObservable(source.connects$).toBe('-a---b', { a: 1, b: 2 })
      expectObservable(source.ends$).toBe('---a--b', { a: 101, b: 102 })
    })
    await expect(job.closing).rejects.toMatchObject({ name: 'AcknowledgementsNotReportedError', cause: { name: 'ReplicationSetupError', info: { reason: 'slot-missing' } } })
  })
})
