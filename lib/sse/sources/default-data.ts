import type { PgNotification } from '../../types.js'

/**
 * The SSE data of a value when the source does not say: a string as it is, a notification's payload (already
 * the text its sender chose, usually JSON), anything else as JSON.
 */
export function defaultData(value: unknown): string {
  if (typeof value === 'string') return value
  if (isNotification(value)) return value.payload
  return JSON.stringify(value) ?? 'null'
}

function isNotification(value: unknown): value is PgNotification {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<PgNotification>
  return typeof candidate.payload === 'string' && typeof candidate.channel === 'string' && typeof candidate.processId === 'number'
}
