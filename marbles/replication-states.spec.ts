/**
 * A change stream's life as `state$` shows it, drawn on a virtual replication server. One frame is 1 ms; a
 * retry after a failed first connection waits 100 ms (no jitter).
 *
 * Letters: i idle, c/d connecting, k/K connected, 1/2 reconnecting (attempt), f failed, z closed.
 */
import { map, tap } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { InvalidReplicationTokenError, ReplicationSetupError, ResumeImpossibleError, SlotInUseError, begin, commit, insert, started, virtualReplicationSource, type VirtualReplicationScript } from '../lib/replication/index.js'
import { runMarbles } from '../lib/testing/index.js'
import { closed, connected, connecting, failed, idle, lostByReset, reconnecting, resetByPeer, virtualChangeStream } from './support/replication.js'

const rowsOf = map((item: unknown) => (item as { new?: unknown; op: string }).new ?? (item as { op: string }).op)

describe('replication states', () => {
  it('stays idle, without connecting, until changes$ is subscribed', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.state$).toBe('i', { i: idle })
      expectObservable(source.connects$).toBe('-')
    }))

  it('connects on the first subscriber and streams from the slot\'s confirmed position', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.changes$, '-^').toBe('-')
      expectObservable(stream.state$).toBe('ick', { i: idle, c: connecting(1), k: connected(101, '0/1000000') })
      // 0/0 asks the server to start where the slot has confirmed.
      expectObservable(source.starts$).toBe('--a', { a: '0/0' })
    }))

  it('takes facts drawn as undefined for the healthy defaults, as if left out', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const facts = { walLevel: undefined, database: undefined, publicationExists: undefined, slot: { plugin: undefined, active: undefined, confirmedFlush: undefined } }
      const source = virtualReplicationSource([cold('-s', { s: { facts } })])
      const stream = virtualChangeStream(source, scheduler)
      expectObservable(stream.changes$, '-^').toBe('-')
      expectObservable(stream.state$).toBe('ick', { i: idle, c: connecting(1), k: connected(101, '0/1000000') })
    }))

  it('after a loss mid-transaction, reconnects at once, resumes at that transaction and skips what it delivered', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const values = { s: started, b: begin('0/2000000'), x: insert('orders', { id: 1 }), y: insert('orders', { id: 2 }), c: commit('0/2000000', '0/2000100') }
      const first: VirtualReplicationScript = { stream: () => cold('s-bxy#', values, resetByPeer()) }
      const second: VirtualReplicationScript = { stream: () => cold('sbxyc', values) }
      const source = virtualReplicationSource([cold('-s', { s: first }), cold('----s', { s: second })])
      const stream = virtualChangeStream(source, scheduler)
      // x is delivered when y shows it is not the last; y is lost with the connection, and comes at the commit.
      expectObservable(stream.changes$.pipe(rowsOf), '-^').toBe('------x--------y', { x: { id: 1 }, y: { id: 2 } })
      expectObservable(stream.state$).toBe('ick----(1c)K', {
        i: idle,
        c: connecting(1),
        k: connected(101, '0/1000000'),
        1: reconnecting(1, 0, lostByReset),
        K: connected(102, '0/2000000'),
      })
      expectObservable(source.starts$).toBe('--a--------b', { a: '0/0', b: '0/2000000' })
    }))

  const setupCases: Array<[string, VirtualReplicationScript['facts'], ReplicationSetupError | ResumeImpossibleError]> = [
    [
      'the slot does not exist',
      { slot: null },
      new ReplicationSetupError({ reason: 'slot-missing', slot: 'orders_feed', publication: 'orders_pub', detail: 'no slot named orders_feed' }),
    ],
    [
      'wal_level is not logical',
      { walLevel: 'replica' },
      new ReplicationSetupError({ reason: 'wal-level', slot: 'orders_feed', publication: 'orders_pub', detail: 'wal_level is replica', found: 'replica' }),
    ],
    [
      'the publication does not exist',
      { publicationExists: false },
      new ReplicationSetupError({ reason: 'publication-missing', slot: 'orders_feed', publication: 'orders_pub', detail: 'no publication named orders_pub' }),
    ],
    [
      'the slot is of another plugin',
      { slot: { plugin: 'wal2json' } },
      new ReplicationSetupError({
        reason: 'slot-not-pgoutput',
        slot: 'orders_feed',
        publication: 'orders_pub',
        detail: 'a logical slot of plugin wal2json',
        found: 'a logical slot of plugin wal2json',
      }),
    ],
    [
      'the server is older than PostgreSQL 12',
      { serverVersion: 110022 },
      new ReplicationSetupError({ reason: 'server-version', slot: 'orders_feed', publication: 'orders_pub', detail: 'server_version_num 110022', found: 'PostgreSQL 11.22' }),
    ],
    [
      'PostgreSQL invalidated the slot',
      { slot: { lost: true, lostDetail: 'wal_status lost' } },
      new ResumeImpossibleError({ reason: 'slot-lost', slot: 'orders_feed', detail: 'wal_status lost' }),
    ],
  ]

  for (const [what, facts, error] of setupCases) {
    it(`fails without retrying, and errors changes$, when ${what}`, () =>
      runMarbles(({ cold, expectObservable, scheduler }) => {
        const source = virtualReplicationSource([cold('-s', { s: { facts } })])
        const stream = virtualChangeStream(source, scheduler)
        expectObservable(stream.changes$, '-^').toBe('--#', undefined, error)
        expectObservable(stream.state$).toBe('icf', { i: idle, c: connecting(1), f: failed(error) })
        expectObservable(source.connects$).toBe('-a', { a: 1 })
        expectObservable(source.starts$).toBe('-')
      }))
  }

  it('names the version it needs and the one it found when the server is too old', () => {
    const error = new ReplicationSetupError({ reason: 'server-version', slot: 'orders_feed', publication: 'orders_pub', detail: 'server_version_num 110022', found: 'PostgreSQL 11.22' })
    expect(error.message).toBe('Logical replication change streams need PostgreSQL 12 or later; this server is PostgreSQL 11.22. Upgrade the server.')
  })

  it('fails a table the publication does not have', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler, { tables: ['orders', 'audit.events'] })
      const error = new ReplicationSetupError({
        reason: 'table-not-published',
        slot: 'orders_feed',
        publication: 'orders_pub',
        table: 'audit.events',
        detail: 'audit.events is not in publication orders_pub',
      })
      expectObservable(stream.changes$, '-^').toBe('--#', undefined, error)
    }))

  // A table renamed (or moved, or dropped) under the stream was told "not in publication … Add it (ALTER
  // PUBLICATION ... ADD TABLE public.tr)": there is no such table to add (a new user's trial).
  it('fails a table that does not exist with table-missing, not table-not-published', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: { facts: { missingTables: ['public.tr'] } } })])
      const stream = virtualChangeStream(source, scheduler, { tables: ['orders', 'tr'] })
      const error = new ReplicationSetupError({
        reason: 'table-missing',
        slot: 'orders_feed',
        publication: 'orders_pub',
        table: 'public.tr',
        detail: 'no table public.tr exists in database app',
      })
      expectObservable(stream.changes$, '-^').toBe('--#', undefined, error)
      expect(error.message).toMatch(/^Table public\.tr does not exist: .*renamed.* name it in `tables` as it is now/)
    }))

  it('waits for a slot another process holds, with back-off, and fails with SlotInUseError after slotInUseTimeout', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const busy = cold('-s', { s: { facts: { slot: { active: true, activePid: 4242 } } } })
      const source = virtualReplicationSource([busy])
      const stream = virtualChangeStream(source, scheduler, { slotInUseTimeout: 250 })
      const inUse = new SlotInUseError({ slot: 'orders_feed', activePid: 4242, detail: 'replication slot "orders_feed" is active for PID 4242' })
      expectObservable(stream.changes$, '-^').toBe('- 303ms #', undefined, inUse)
      // Found busy at 2: retried at 102 (found busy at 103) and at 303; busy for 302 ms at 304: failed.
      expectObservable(stream.state$).toBe('ic1 99ms d2 199ms ef', {
        i: idle,
        c: connecting(1),
        1: reconnecting(1, 100, inUse),
        d: connecting(1),
        2: reconnecting(2, 200, inUse),
        e: connecting(2),
        f: failed(inUse),
      })
    }))

  it("waits past slotInUseTimeout for a slot its own lost session's WAL sender still holds (it ends within wal_sender_timeout)", () => {
    const statuses: string[] = []
    runMarbles(({ cold, scheduler }) => {
      // Session 101 streams, then its connection is lost (a half-open socket the health check replaced): its WAL
      // sender goes on holding the slot until the server's wal_sender_timeout ends it.
      const first = cold<VirtualReplicationScript>('-s', { s: { processId: 101, stream: () => cold('s--#', { s: started }, resetByPeer()) } })
      const orphaned = cold<VirtualReplicationScript>('-s', { s: { facts: { slot: { active: true, activePid: 101 } } } })
      const freed = cold<VirtualReplicationScript>('-s', { s: { processId: 105, stream: () => cold('s', { s: started }) } })
      const source = virtualReplicationSource([first, orphaned, orphaned, orphaned, freed])
      const stream = virtualChangeStream(source, scheduler, { slotInUseTimeout: 150 })
      stream.changes$.subscribe({ error: () => undefined })
      stream.state$.subscribe((state) => statuses.push(state.status === 'connected' ? `connected ${state.processId}` : state.status))
    })
    expect(statuses).not.toContain('failed')
    expect(statuses.at(-1)).toBe('connected 105')
  })

  it('goes idle when the last subscriber leaves (reporting its position first), and continues after what it delivered when subscribed again', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const values = { s: started, b: begin('0/2000000'), x: insert('orders', { id: 1 }), c: commit('0/2000000', '0/2000100') }
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s(bxc)', values) } }), cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      const acknowledging = stream.changes$.pipe(tap((change) => stream.ack((change as { position: string }).position)), rowsOf)
      expectObservable(acknowledging, '-^ 6ms !').toBe('---x', { x: { id: 1 } })
      expectObservable(stream.changes$, '12ms ^').toBe('-')
      expectObservable(stream.state$).toBe('ick-----i---cK', {
        i: idle,
        c: connecting(1),
        k: connected(101, '0/1000000'),
        K: connected(102, '0/2000100'),
      })
      expectObservable(source.statusUpdates$).toBe('--------a 14ms b', {
        a: { processId: 101, written: '0/2000100', flushed: '0/2000100', replyRequested: false },
        b: { processId: 102, written: '0/2000100', flushed: '0/2000100', replyRequested: false },
      })
      expectObservable(source.starts$).toBe('--a----------b', { a: '0/0', b: '0/2000100' })
      expectObservable(source.ends$).toBe('--------e', { e: 101 })
    }))

  /** The tokens a first stream gives for a transaction at 0/2000000 of three inserts (x, y, z). */
  function tokensOf(cold: Parameters<Parameters<typeof runMarbles>[0]>[0]['cold'], scheduler: Parameters<Parameters<typeof runMarbles>[0]>[0]['scheduler']): string[] {
    const values = { s: started, b: begin('0/2000000'), x: insert('orders', { id: 1 }), y: insert('orders', { id: 2 }), z: insert('orders', { id: 3 }), c: commit('0/2000000', '0/2000100') }
    const first = virtualChangeStream(virtualReplicationSource([cold('s', { s: { stream: () => cold('s(bxyzc)', values) } })]), scheduler)
    const tokens: string[] = []
    first.changes$.subscribe((change) => tokens.push((change as { position: string }).position))
    scheduler.schedule(() => void first.close(), 5)
    return tokens
  }
  const threeRows = { s: started, b: begin('0/2000000'), x: insert('orders', { id: 1 }), y: insert('orders', { id: 2 }), z: insert('orders', { id: 3 }), c: commit('0/2000000', '0/2000100') }

  it('resumes exactly after a stored token: at its transaction, skipping what the token covers', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const tokens = tokensOf(cold, scheduler)
      const source = virtualReplicationSource([cold('-s', { s: { stream: () => cold('s(bxyzc)', threeRows) } })])
      scheduler.schedule(() => {
        const resumed = virtualChangeStream(source, scheduler, { resumeAfter: tokens[0] as string })
        resumed.changes$.pipe(rowsOf).subscribe((row) => rows.push(row))
      }, 10)
      const rows: unknown[] = []
      scheduler.schedule(() => expect(rows).toEqual([{ id: 2 }, { id: 3 }]), 20)
      expectObservable(source.starts$).toBe('11ms a', { a: '0/2000000' })
    }))

  it('resumes after the last change of a transaction at the transaction\'s end', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const tokens = tokensOf(cold, scheduler)
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      scheduler.schedule(() => virtualChangeStream(source, scheduler, { resumeAfter: tokens[2] as string }).changes$.subscribe(), 10)
      expectObservable(source.starts$).toBe('11ms a', { a: '0/2000100' })
    }))

  it('fails with ResumeImpossibleError when the slot has confirmed past the token, rather than skip what is in between', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const tokens = tokensOf(cold, scheduler)
      const source = virtualReplicationSource([cold('-s', { s: { facts: { slot: { confirmedFlush: '0/2500000' } } } })])
      const states: unknown[] = []
      scheduler.schedule(() => {
        const resumed = virtualChangeStream(source, scheduler, { resumeAfter: tokens[0] as string })
        resumed.state$.subscribe((state) => states.push(state))
        resumed.changes$.subscribe({ error: () => undefined })
      }, 10)
      scheduler.schedule(
        () =>
          expect(states.at(-1)).toEqual(
            failed(
              new ResumeImpossibleError({
                reason: 'token-behind-slot',
                slot: 'orders_feed',
                token: tokens[0] as string,
                resumeLsn: '0/2000000',
                slotLsn: '0/2500000',
                serverLsn: '0/3000000',
              }),
            ),
          ),
        20,
      )
      expectObservable(source.starts$).toBe('-')
    }))

  it('refuses the token of another slot, and a position it has not delivered', () =>
    runMarbles(({ cold, scheduler }) => {
      const tokens = tokensOf(cold, scheduler)
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const states: unknown[] = []
      scheduler.schedule(() => {
        const other = virtualChangeStream(source, scheduler, { slot: 'other_feed', resumeAfter: tokens[0] as string })
        other.state$.subscribe((state) => states.push(state))
        other.changes$.subscribe({ error: () => undefined })
        expect(() => other.ack(tokens[0] as string)).not.toThrow()
        const fresh = virtualChangeStream(virtualReplicationSource([cold('-s', { s: {} })]), scheduler)
        expect(() => fresh.ack(tokens[1] as string)).toThrow(InvalidReplicationTokenError)
        expect(() => fresh.ack('not a token')).toThrow(InvalidReplicationTokenError)
      }, 10)
      scheduler.schedule(() => expect((states.at(-1) as { error: InvalidReplicationTokenError }).error.info.reason).toBe('other-slot'), 20)
    }))

  it('emits closed and completes every subscriber at the frame close() is called', () =>
    runMarbles(({ cold, expectObservable, scheduler }) => {
      const source = virtualReplicationSource([cold('-s', { s: {} })])
      const stream = virtualChangeStream(source, scheduler)
      scheduler.schedule(() => void stream.close(), 5)
      expectObservable(stream.changes$, '-^').toBe('-----|')
      expectObservable(stream.state$).toBe('ick--(z|)', { i: idle, c: connecting(1), k: connected(101, '0/1000000'), z: closed })
      expectObservable(source.ends$).toBe('-----e', { e: 101 })
    }))
})
