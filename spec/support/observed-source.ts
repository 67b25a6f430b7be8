import { firstValueFrom, map } from 'rxjs'
import { pgSource, type ListenSession, type NotificationSource } from '../../lib/index.js'

/**
 * The real pg source, observed: it delegates every call to `pgSource(url)` and keeps the live session and
 * the LISTEN/UNLISTEN batches it ran, so a spec can ask the listening backend itself what it listens to.
 * Nothing is mocked: every query goes to PostgreSQL.
 */
export interface ObservedSource extends NotificationSource {
  readonly changes: Array<{ readonly add: readonly string[]; readonly remove: readonly string[] }>
  readonly sessions: ListenSession[]
  /** `pg_listening_channels()` of the current listening backend, sorted. */
  serverListens(): Promise<string[]>
}

export function observedSource(url: string): ObservedSource {
  const real = pgSource(url)
  const changes: ObservedSource['changes'] = []
  const sessions: ListenSession[] = []
  const observe = (session: ListenSession): ListenSession => ({
    get processId() {
      return session.processId
    },
    notifications: session.notifications,
    changeListens: (add, remove) => {
      // The listener's private self-probe channel is its own business, not the subscribed set.
      const change = { add: add.filter(isUserChannel), remove: remove.filter(isUserChannel) }
      if (change.add.length + change.remove.length > 0) changes.push(change)
      return session.changeListens(add, remove)
    },
    listeningChannels: () => session.listeningChannels(),
    notifySelf: (channel, payload) => session.notifySelf(channel, payload),
    end: () => session.end(),
  })
  return {
    changes,
    sessions,
    connect: () =>
      real.connect().pipe(
        map((session) => {
          sessions.push(session)
          return observe(session)
        }),
      ),
    async serverListens() {
      const session = sessions.at(-1)
      if (!session) return []
      return [...(await firstValueFrom(session.listeningChannels()))].filter(isUserChannel).sort()
    },
  }
}

/** False for the listener's private self-probe channel. */
export const isUserChannel = (channel: string): boolean => !channel.startsWith('rxpg_probe_')
