import { map } from 'rxjs'
import type { ListenSession, NotificationSource } from './notification-source.js'

export interface SourceTaps {
  /** Each session, once open. */
  session?(session: ListenSession): void
  /** Each LISTEN/UNLISTEN batch, as it is sent. */
  batch?(session: ListenSession, add: readonly string[], remove: readonly string[]): void
}

/** @internal `source`, unchanged, with callbacks for what it opens and sends (the debug log, specs). */
export function tapSource(source: NotificationSource, taps: SourceTaps): NotificationSource {
  const tapped = (session: ListenSession): ListenSession => ({
    get processId() {
      return session.processId
    },
    notifications: session.notifications,
    changeListens: (add, remove) => {
      taps.batch?.(session, add, remove)
      return session.changeListens(add, remove)
    },
    listeningChannels: () => session.listeningChannels(),
    lastReceivedAt: () => session.lastReceivedAt(),
    end: () => session.end(),
  })
  return {
    connect: (clock) =>
      source.connect(clock).pipe(
        map((session) => {
          taps.session?.(session)
          return tapped(session)
        }),
      ),
  }
}
