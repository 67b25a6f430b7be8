// ListenSync.reconcile: the health check's comparison of the server's LISTEN set with the session's, which sets
// apart names the server truncated (longer than 63 bytes in the database's encoding) and refuses those channels,
// but never takes a set that is merely out of step for a truncation.
import { EMPTY, NEVER, of } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { ListenSync } from '../../lib/connection/listen-sync.js'
import type { ListenSession } from '../../lib/ports/notification-source.js'

/** A session whose LISTEN batches are confirmed at once, recorded in `sent`. */
function syncOn(channels: string[]) {
  const sent: Array<{ add: readonly string[]; remove: readonly string[] }> = []
  const session: ListenSession = {
    processId: 1,
    notifications: NEVER,
    changeListens: (add, remove) => {
      sent.push({ add, remove })
      return of(true)
    },
    listeningChannels: () => EMPTY,
    lastReceivedAt: () => 0,
    end: () => Promise.resolve(),
  }
  const refused: Array<{ channel: string; listenedAs?: string }> = []
  const sync = new ListenSync(session, {
    confirmed: () => undefined,
    changed: () => undefined,
    failed: (error) => {
      throw error
    },
    refused: (channel, refusal) => void refused.push({ channel, ...('listenedAs' in refusal ? { listenedAs: refusal.listenedAs } : {}) }),
  })
  sync.start(channels)
  return { sync, sent, refused }
}

describe('ListenSync.reconcile', () => {
  it('refuses a channel the server listens to under a prefix of its name, and unlistens the prefix', () => {
    const long = 'é'.repeat(31)
    const { sync, sent, refused } = syncOn(['plain', long])
    expect(sync.reconcile(['plain', 'é'.repeat(21)])).toBeUndefined()
    expect(refused).toEqual([{ channel: long, listenedAs: 'é'.repeat(21) }])
    expect(sent.at(-1)).toEqual({ add: [], remove: ['é'.repeat(21)] })
  })

  // A new user's trial (EUC_JP): the listener wanted both 'é' × 21 (63 bytes there) and 'é' × 31 (93 bytes, cut to
  // the first), so the server's one name served both; the health check took it for a set out of step and
  // reconnected every interval for ever, and 'é' × 21 lost notifications at each reconnection.
  it('refuses a channel truncated to a name this session listens to itself, and keeps listening to that one', () => {
    const long = 'é'.repeat(31)
    const { sync, sent, refused } = syncOn(['plain', 'é'.repeat(21), long])
    const batches = sent.length
    expect(sync.reconcile(['plain', 'é'.repeat(21)])).toBeUndefined()
    expect(refused).toEqual([{ channel: long, listenedAs: 'é'.repeat(21) }])
    expect(sent).toHaveLength(batches)
    expect(sync.isInEffect('é'.repeat(21))).toBe(true)
    expect(sync.reconcile(['plain', 'é'.repeat(21)])).toBeUndefined()
  })

  it('takes a missing ASCII name, or one whose prefix this session listens to itself, for a set out of step', () => {
    const { sync, refused } = syncOn(['orders', 'orders_eu', 'ünits', 'ünits_eu'])
    expect(sync.reconcile(['orders', 'ünits', 'ünits_eu'])).toBe('not listening to "orders_eu"')
    expect(sync.reconcile(['orders', 'orders_eu', 'ünits'])).toBe('not listening to "ünits_eu"')
    // Too short to be cut in any encoding (at most 4 bytes a character), or the prefix too short to be what was cut.
    const { sync: other } = syncOn(['é'.repeat(31), 'é'.repeat(10)])
    expect(other.reconcile(['é'.repeat(10)])).toBe(`not listening to "${'é'.repeat(31)}"`)
    expect(refused).toEqual([])
  })
})
