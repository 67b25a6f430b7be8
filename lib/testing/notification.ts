import type { OptionalFields, PgNotification } from '../types.js'

/** The backend process id of a virtual listener's own sending connection (unless its options say otherwise). */
export const VIRTUAL_LISTENER_PROCESS_ID = 1

/** The backend process id `notification()` gives by default: some other process, so it is never an own echo. */
export const VIRTUAL_PEER_PROCESS_ID = 2

/**
 * Builds a `PgNotification` for a marble diagram's values: sent by another process (`VIRTUAL_PEER_PROCESS_ID`)
 * and received at 0, unless `overrides` say otherwise.
 *
 * ```ts
 * const orders = hot('-a--b-', { a: notification('orders', '{"id":1}'), b: notification('orders', '{"id":2}') })
 * notification('orders', '{"id":3}', { processId: VIRTUAL_LISTENER_PROCESS_ID }) // an own echo
 * ```
 */
export function notification(
  channel: string,
  payload = '',
  overrides: OptionalFields<Pick<PgNotification, 'processId' | 'receivedAt'>> = {},
): PgNotification {
  return { channel, payload, processId: overrides.processId ?? VIRTUAL_PEER_PROCESS_ID, receivedAt: overrides.receivedAt ?? 0 }
}
