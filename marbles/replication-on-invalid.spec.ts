/**
 * `onInvalid`: a change its table's decoder refuses goes to `onInvalid` in stream order (after every item before
 * it has been handed to subscribers, before any after it), also when flow control holds items back; its
 * position counts as passed, so `ack(error.info.position)` is accepted from inside `onInvalid` and any time after.
 * One frame is 1 ms; rows are `{ id }`, and the decoder refuses an id that is not a number.
 */
import { config } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { begin, commit, insert, started, virtualReplicationSource, type ChangeDecodeError, type ChangeStream, type Transaction } from '../lib/replication/index.js'
import type { Change } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { resetByPeer, virtualChangeStream, virtualTransactionStream } from './support/replication.js'

/** Accepts `{ id: number }`, refuses anything else. */
const numbered = (row: unknown) =>
  typeof (row as { id?: unknown }).id === 'number' ? { _tag: 'Right' as const, right: row } : { _tag: 'Left' as const, left: 'id is not a number' }
const decoded = { tables: { orders: numbered } as never, gatherReads: false as const }

/** A transaction committed at 0/2000000 (its record ends at 0/2000100): rows 1 and 3 decode, `x` is refused. */
const messages = {
  s: started,
  b: begin('0/2000000'),
  1: insert('orders', { id: 1 }),
  2: insert('orders', { id: 2 }),
  3: insert('orders', { id: 3 }),
  4: insert('orders', { id: 4 }),
  x: insert('orders', { id: 'x' }),
  y: insert('orders', { id: 'y' }),
  c: commit('0/2000000', '0/2000100'),
  B: begin('0/2000200'),
  5: insert('orders', { id: 5 }),
  C: commit('0/2000200', '0/2000300'),
}
const status = (written: string, flushed: string) => ({ processId: 101, written, flushed, replyRequested: false })

const idOf = (item: unknown) => String((item as Change<{ id: unknown }>).new?.id)

/** Logs deliveries (`1`, or `1 last` for the last of its transaction) and refusals (`invalid x`), with the frame when `timed`. */
function record(stream: ChangeStream<unknown>, now: () => number, timed = false) {
  const log: string[] = []
  const delivered: Array<Change<unknown>> = []
  const entry = (text: string) => log.push(timed ? `${now()}:${text}` : text)
  stream.changes$.subscribe({
    next: (item) => {
      const change = item as Change<unknown>
      delivered.push(change)
      entry(change.lastInTransaction ? `${idOf(change)} last` : idOf(change))
    },
    error: (error: unknown) => entry(`failed ${(error as Error).name}`),
  })
  return { log, delivered, entry }
}

describe('replication onInvalid', () => {
  it('reports a refused change between the changes around it, and takes its position as an acknowledgement there and later', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b1x3c)', messages) } })])
      const refused: ChangeDecodeError[] = []
      const acks: string[] = []
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          refused.push(error)
          log.entry(`invalid ${(error.info.messages as string[]).join()}`)
          try {
            stream.ack(error.info.position)
            acks.push('accepted')
          } catch (failure) {
            acks.push((failure as Error).name)
          }
          acks.push(`acknowledged ${stream.metrics.snapshot().acknowledged}, unacknowledged ${stream.metrics.snapshot().unacknowledged}`)
        },
      })
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => {
        expect(log.log).toEqual(['1', 'invalid id is not a number', '3 last'])
        // Accepted inside onInvalid, where it acknowledged change 1 (before it) and nothing else: the refusal is no delivered item.
        expect(acks).toEqual(['accepted', 'acknowledged 1, unacknowledged 0'])
        expect(refused[0]?.info.position).not.toBe(log.delivered[0]?.position)
        // And again after change 3: a position already acknowledged, so nothing changes.
        stream.ack((refused[0] as ChangeDecodeError).info.position)
        expect(stream.metrics.snapshot()).toMatchObject({ delivered: 2, acknowledged: 1, unacknowledged: 1, decodeFailures: 1 })
      }, 5)
      // Only the refused change (inside the transaction) is acknowledged: the slot is told the commit LSN.
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000100', '0/2000000') })
    }))

  it('accepts the refused position any time after onInvalid, acknowledging everything before it', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12xc)', messages) } })])
      let position = ''
      const stream = virtualChangeStream(source, scheduler, { ...decoded, onInvalid: (error) => (position = error.info.position) })
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => {
        expect(log.log).toEqual(['1', '2 last'])
        stream.ack((log.delivered[0] as Change<unknown>).position)
        expect(stream.metrics.snapshot()).toMatchObject({ acknowledged: 1, unacknowledged: 1 })
        // After change 2, the last delivered: acknowledges it too.
        expect(() => stream.ack(position)).not.toThrow()
        expect(stream.metrics.snapshot()).toMatchObject({ acknowledged: 2, unacknowledged: 0, decodeFailures: 1 })
        expect(() => stream.ack(position)).not.toThrow()
      }, 20)
    }))

  it('reports a refused last change after the change before it, which stays the last delivered of its transaction', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12xc)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          log.entry('invalid')
          stream.ack(error.info.position)
        },
      })
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => expect(log.log).toEqual(['1', '2 last', 'invalid']), 5)
      // The refused change ends the transaction: acknowledging it lets the slot move past the transaction.
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000100', '0/2000100') })
    }))

  it('does not let a delivered change acknowledge a refused change after it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12xc)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { ...decoded, onInvalid: () => log.entry('invalid') })
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => stream.ack((log.delivered[1] as Change<unknown>).position), 5)
      // Change 2 is the last delivered, but the refused change comes after it: the slot keeps the transaction.
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000100', '0/2000000') })
    }))

  it('reports refused changes at the start of a transaction, and one whose every change is refused, in order', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(bxy3c)', messages) } })])
      const positions: string[] = []
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          log.entry(`invalid ${String((error.info.messages[0] ?? '').length > 0)}`)
          positions.push(error.info.position)
        },
      })
      const log = record(stream, () => scheduler.now(), true)
      scheduler.schedule(() => {
        expect(log.log).toEqual(['3:invalid true', '3:invalid true', '3:3 last'])
        stream.ack(positions[1] as string)
        expect(stream.metrics.snapshot()).toMatchObject({ acknowledged: 0, unacknowledged: 1, decodeFailures: 2 })
      }, 8)
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000100', '0/2000000') })
    }))

  it('reports the refusal of a transaction with nothing else, with a position past the transaction', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b1c)-(BxC)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          log.entry('invalid')
          stream.ack(error.info.position)
        },
      })
      const log = record(stream, () => scheduler.now(), true)
      scheduler.schedule(() => expect(log.log).toEqual(['3:1 last', '9:invalid']), 10)
      // Acknowledging the refusal acknowledges change 1 before it, and moves the slot past its own transaction.
      expectObservable(source.statusUpdates$).toBe('11ms a', { a: status('0/2000300', '0/2000300') })
    }))

  it('reports a refusal behind the items flow control holds back, right after the one before it', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12x4c)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, { ...decoded, maxUnacknowledged: 1, onInvalid: () => log.entry('invalid') })
      const log = record(stream, () => scheduler.now(), true)
      // Row 1 delivered at 3; 2, the refusal and 4 wait. Acknowledging 1 at 10 hands on 2 and then the refusal
      // (which takes no room); 4 waits until 2 is acknowledged at 20.
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ decodeFailures: 0, unacknowledged: 1, paused: true }), 5)
      scheduler.schedule(() => stream.ack((log.delivered[0] as Change<unknown>).position), 10)
      scheduler.schedule(() => expect(stream.metrics.snapshot()).toMatchObject({ decodeFailures: 1, delivered: 2, unacknowledged: 1, paused: true }), 15)
      scheduler.schedule(() => stream.ack((log.delivered[1] as Change<unknown>).position), 20)
      scheduler.schedule(() => expect(log.log).toEqual(['3:1', '10:2', '10:invalid', '20:4 last']), 30)
      // Row 4 fills the room again: reading stays paused.
      expectObservable(source.flow$).toBe('3ms p', { p: 'pause' })
    }))

  it('makes room when the refused position acknowledged inside onInvalid covers what flow control waited for', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12x4c)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        maxUnacknowledged: 1,
        onInvalid: (error) => {
          log.entry('invalid')
          stream.ack(error.info.position)
        },
      })
      const log = record(stream, () => scheduler.now(), true)
      scheduler.schedule(() => stream.ack((log.delivered[0] as Change<unknown>).position), 10)
      scheduler.schedule(() => expect(log.log).toEqual(['3:1', '10:2', '10:invalid', '10:4 last']), 30)
    }))

  it('reports a refusal once: not again after a reconnection that sends its transaction again', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(b1x3)-#', messages, resetByPeer()) } }),
        cold('-s', { s: { stream: () => cold('s-(b1x3c)', messages) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { ...decoded, onInvalid: () => log.entry('invalid') })
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => expect(log.log).toEqual(['1', 'invalid', '3 last']), 50)
    }))

  it('reports a refusal that waited for room again after a reconnection, once', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(b12x3c)---#', messages, resetByPeer()) } }),
        cold('-s', { s: { stream: () => cold('s-(b12x3c)', messages) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, { ...decoded, maxUnacknowledged: 1, onInvalid: () => log.entry('invalid') })
      const log = record(stream, () => scheduler.now(), true)
      // Row 2, the refusal and row 3 wait behind row 1 when the connection is lost; the next session sends them
      // again, and they wait again until row 1 is acknowledged at 50.
      scheduler.schedule(() => stream.ack((log.delivered[0] as Change<unknown>).position), 50)
      scheduler.schedule(() => stream.ack((log.delivered[1] as Change<unknown>).position), 60)
      scheduler.schedule(() => {
        expect(log.log).toEqual(['3:1', '50:2', '50:invalid', '60:3 last'])
        expect(stream.metrics.snapshot()).toMatchObject({ reconnects: 1, decodeFailures: 1 })
      }, 100)
    }))

  it('resumes after an acknowledged refused last change, which the slot confirmed (not before it)', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(b1xc) 12ms #', messages, resetByPeer()) } }),
        cold('-s', { s: { facts: { slot: { confirmedFlush: '0/2000100' } }, stream: () => cold('s-(B5C)', messages) } }),
      ])
      const stream = virtualChangeStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          log.entry('invalid')
          stream.ack(error.info.position)
        },
      })
      const states: string[] = []
      stream.state$.subscribe((state) => states.push(state.status))
      const starts: string[] = []
      source.starts$.subscribe((from) => starts.push(from))
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => {
        expect(states).not.toContain('failed')
        expect(starts).toEqual(['0/0', '0/2000100'])
        expect(log.log).toEqual(['1 last', 'invalid', '5 last'])
      }, 100)
    }))

  it('reports what onInvalid throws as a subscriber’s throw is, and goes on', () => {
    const thrown: unknown[] = []
    const before = config.onUnhandledError
    config.onUnhandledError = (error) => void thrown.push(error)
    try {
      runMarbles(({ cold, scheduler }) => {
        const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b12x4c)', messages) } })])
        const stream = virtualChangeStream(source, scheduler, {
          ...decoded,
          maxUnacknowledged: 1,
          onInvalid: () => {
            log.entry('invalid')
            throw new Error('dead letters unavailable')
          },
        })
        const log = record(stream, () => scheduler.now(), true)
        // The refusal is passed on inside this acknowledgement, which its throw does not break.
        scheduler.schedule(() => expect(() => stream.ack((log.delivered[0] as Change<unknown>).position)).not.toThrow(), 10)
        scheduler.schedule(() => stream.ack((log.delivered[1] as Change<unknown>).position), 20)
        scheduler.schedule(() => {
          expect(log.log).toEqual(['3:1', '10:2', '10:invalid', '20:4 last'])
          expect(thrown).toEqual([new Error('dead letters unavailable')])
        }, 30)
      })
    } finally {
      config.onUnhandledError = before
    }
  })

  it('leaves a stream without onInvalid failing after what came before the refused change, as before', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b1x3c)', messages) } })])
      const stream = virtualChangeStream(source, scheduler, decoded)
      const log = record(stream, () => scheduler.now())
      scheduler.schedule(() => {
        expect(log.log).toEqual(['1', 'failed ChangeDecodeError'])
        expect(stream.metrics.snapshot()).toMatchObject({ delivered: 1, decodeFailures: 1 })
      }, 20)
    }))

  it('transactionStream: reports a transaction’s refusals at its commit, before it, and its position covers them', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s-(b1x3y)c', messages) } })])
      const positions: string[] = []
      const stream = virtualTransactionStream(source, scheduler, {
        ...decoded,
        onInvalid: (error) => {
          log.push(`${scheduler.now()}:invalid`)
          positions.push(error.info.position)
          stream.ack(error.info.position)
        },
      })
      const log: string[] = []
      const transactions: Array<Transaction<Change<unknown>>> = []
      stream.transactions$.subscribe((item) => {
        const transaction = item as Transaction<Change<unknown>>
        transactions.push(transaction)
        log.push(`${scheduler.now()}:${transaction.changes.map(idOf).join()}`)
      })
      scheduler.schedule(() => {
        // The transaction commits at 10: its refusals wait for it, and come before it.
        expect(log).toEqual(['10:invalid', '10:invalid', '10:1,3'])
        expect(transactions[0]?.changes.map((change) => change.lastInTransaction)).toEqual([false, true])
        expect(stream.metrics.snapshot()).toMatchObject({ delivered: 1, acknowledged: 0, unacknowledged: 1, decodeFailures: 2 })
        stream.ack((transactions[0] as Transaction<Change<unknown>>).position)
        for (const position of positions) expect(() => stream.ack(position)).not.toThrow()
        expect(stream.metrics.snapshot()).toMatchObject({ acknowledged: 1, unacknowledged: 0 })
      }, 12)
      // The refusals acknowledged inside onInvalid are inside the transaction (commit LSN); the transaction's position covers it whole.
      expectObservable(source.statusUpdates$).toBe('11ms a 9ms b', { a: status('0/2000100', '0/2000000'), b: status('0/2000100', '0/2000100') })
    }))

  it('transactionStream: passes a transaction’s refusals with it, so a transaction that waited for room and was dropped comes again whole', () =>
    runMarbles(({ cold, scheduler }) => {
      const source = virtualReplicationSource([
        cold('-s', { s: { stream: () => cold('s-(b1cB2x3C)---#', messages, resetByPeer()) } }),
        cold('-s', { s: { stream: () => cold('s-(B2x3C)', messages) } }),
      ])
      const log: string[] = []
      const stream = virtualTransactionStream(source, scheduler, { ...decoded, maxUnacknowledged: 1, onInvalid: () => log.push(`${scheduler.now()}:invalid`) })
      const transactions: Array<Transaction<Change<unknown>>> = []
      stream.transactions$.subscribe((item) => {
        const transaction = item as Transaction<Change<unknown>>
        transactions.push(transaction)
        log.push(`${scheduler.now()}:${transaction.changes.map(idOf).join()}`)
      })
      // The second transaction (and its refusal) waits for room when the connection is lost; sent again, it waits again.
      scheduler.schedule(() => stream.ack((transactions[0] as Transaction<Change<unknown>>).position), 50)
      scheduler.schedule(() => expect(log).toEqual(['3:1', '50:invalid', '50:2,3']), 100)
    }))
})
