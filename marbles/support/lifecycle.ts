import { Subject, type SchedulerLike } from 'rxjs'
import { createPgListener, type PgListenerOptions } from '../../lib/create-pg-listener.js'
import { ConnectionLostError, type ConnectionRejectedError } from '../../lib/errors.js'
import type { ChannelDemand, DemandChange } from '../../lib/ports/channel-demand.js'
import type { NotificationSource } from '../../lib/ports/notification-source.js'
import { virtualTransport } from '../../lib/testing/index.js'
import type { ListenerGap, ListenerState, PgListener } from '../../lib/types.js'

/**
 * The real listener on a virtual source, in virtual time: no jitter (`random: () => 0`, so every delay is its
 * nominal value), no health check or self-probe unless asked, and a virtual transport instead of a sending
 * connection.
 */
export function virtualPgListener(
  source: NotificationSource,
  scheduler: SchedulerLike,
  options: Omit<PgListenerOptions, 'source' | 'scheduler'> = {},
): PgListener {
  return createPgListener('postgres://app@virtual:5432/app', {
    healthCheck: false,
    selfProbe: false,
    transport: virtualTransport(),
    ...options,
    reconnect: { random: () => 0, ...options.reconnect },
    source,
    scheduler,
  })
}

/** What a driver throws when nothing listens on the server's port. */
export function refusedByNetwork(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
}

/** What pg throws for a wrong password. */
export function wrongPassword(): Error {
  return Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' })
}

/** What the listener makes of `refusedByNetwork()`. */
export const networkRefusal = new ConnectionLostError({ systemCode: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:5432' })

// State builders, so diagrams' value tables read like the states they are.
export const idle: ListenerState = { status: 'idle' }
export const connecting = (attempt: number): ListenerState => ({ status: 'connecting', attempt })
export const connected = (processId: number, gap?: ListenerGap): ListenerState =>
  gap === undefined ? { status: 'connected', processId } : { status: 'connected', processId, gap }
export const reconnecting = (attempt: number, delay: number, lastError: ConnectionLostError = networkRefusal): ListenerState => ({
  status: 'reconnecting',
  attempt,
  delay,
  lastError,
})
export const failed = (error: ConnectionRejectedError): ListenerState => ({ status: 'failed', error })
export const closed: ListenerState = { status: 'closed' }

/** Closes `listener` at virtual time `frame` (stops its timers, so a run with a health check can end). */
export function closeAt(listener: PgListener, scheduler: SchedulerLike, frame: number): void {
  scheduler.schedule(() => void listener.close(), frame)
}

/** Each state's status, as one letter per value in diagrams: `statusLetters` maps them back. */
export const statusLetters = { i: 'idle', c: 'connecting', k: 'connected', r: 'reconnecting', f: 'failed', z: 'closed' } as const

/** The channels a bare `ListenerConnection` is asked to LISTEN, changed by hand (the router does it in the listener). */
export function handDemand(): ChannelDemand & { want(channel: string): void; unwant(channel: string): void; readonly refused: ReadonlyArray<{ channel: string; error: unknown }> } {
  const wanted = new Set<string>()
  const changes = new Subject<DemandChange>()
  const refused: Array<{ channel: string; error: unknown }> = []
  return {
    refused,
    refuse: (channel, error) => {
      refused.push({ channel, error })
      if (!wanted.delete(channel)) return
      changes.next({ channel, wanted: false })
    },
    channels: () => wanted,
    wants: (channel) => wanted.has(channel),
    changes$: changes.asObservable(),
    want: (channel) => {
      wanted.add(channel)
      changes.next({ channel, wanted: true })
    },
    unwant: (channel) => {
      wanted.delete(channel)
      changes.next({ channel, wanted: false })
    },
  }
}
