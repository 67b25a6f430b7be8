import { firstValueFrom } from 'rxjs'
import { pgSource } from '../../lib/pg/pg-source.js'
import type { ListenSession, NotificationSource } from '../../lib/ports/notification-source.js'
import { tapSource } from '../../lib/ports/tap-source.js'

/** One LISTEN/UNLISTEN batch, without the listener's private self-probe channel. */
export interface ListenChange {
  readonly add: readonly string[]
  readonly remove: readonly string[]
}

/**
 * The real pg source, observed: it delegates every call to `pgSource(url)` and keeps the sessions and the
 * LISTEN/UNLISTEN batches they ran (all of them, and per session), so a spec can ask the listening backend
 * itself what it listens to. Nothing is mocked: every query goes to PostgreSQL.
 */
export interface ObservedSource extends NotificationSource {
  readonly changes: ListenChange[]
  readonly sessions: ReadonlyArray<{ readonly session: ListenSession; readonly changes: ListenChange[] }>
  /** `pg_listening_channels()` of the current listening backend, without the self-probe channel, sorted. */
  serverListens(): Promise<string[]>
}

export function observedSource(url: string): ObservedSource {
  const changes: ListenChange[] = []
  const sessions: Array<{ session: ListenSession; changes: ListenChange[] }> = []
  const source = tapSource(pgSource(url), {
    session: (session) => void sessions.push({ session, changes: [] }),
    batch: (session, add, remove) => {
      // The listener's private self-probe channel is its own business, not the subscribed set.
      const change = { add: add.filter(isUserChannel), remove: remove.filter(isUserChannel) }
      if (change.add.length + change.remove.length === 0) return
      changes.push(change)
      sessions.find((entry) => entry.session === session)?.changes.push(change)
    },
  })
  return {
    changes,
    sessions,
    connect: (clock) => source.connect(clock),
    async serverListens() {
      const session = sessions.at(-1)?.session
      if (!session) return []
      return [...(await firstValueFrom(session.listeningChannels()))].filter(isUserChannel).sort()
    },
  }
}

/** False for the listener's private self-probe channel. */
export const isUserChannel = (channel: string): boolean => !channel.startsWith('rxpg_probe_')
