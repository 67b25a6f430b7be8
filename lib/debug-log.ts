import { tap } from 'rxjs'
import type { NotificationSource } from './ports/notification-source.js'
import type { NotifyTransport } from './ports/notify-transport.js'
import { tapSource } from './ports/tap-source.js'
import type { ListenerState } from './types.js'

/**
 * One debug log entry. Never holds a secret: errors in states are already redacted, and payloads are never
 * logged (they may carry personal data), only channel names and counts.
 */
export type ListenerLogEntry =
  | { readonly event: 'state'; readonly state: ListenerState }
  | { readonly event: 'listen'; readonly processId: number; readonly add: readonly string[]; readonly remove: readonly string[] }
  | { readonly event: 'send'; readonly notifications: number; readonly channels: readonly string[] }
  | { readonly event: 'send-failed'; readonly notifications: number; readonly reason: string }

/** Receives debug log entries: pass `options.log` (for example `(entry) => console.debug('rxpg', entry)`). */
export type ListenerLog = (entry: ListenerLogEntry) => void

/** @internal The source, with every LISTEN/UNLISTEN batch logged. */
export function loggedSource(source: NotificationSource, log: ListenerLog): NotificationSource {
  return tapSource(source, { batch: (session, add, remove) => log({ event: 'listen', processId: session.processId, add: [...add], remove: [...remove] }) })
}

/** @internal The transport, with every batch and failure logged (counts and channel names, no payloads). */
export function loggedTransport(transport: NotifyTransport, log: ListenerLog): NotifyTransport {
  return {
    processIds: transport.processIds,
    end: () => transport.end(),
    send: (batch) =>
      transport.send(batch).pipe(
        tap({
          complete: () => log({ event: 'send', notifications: batch.length, channels: [...new Set(batch.map((n) => n.channel))] }),
          error: (error: unknown) =>
            log({ event: 'send-failed', notifications: batch.length, reason: (error as { kind?: string | undefined }).kind ?? 'failed' }),
        }),
      ),
  }
}
