import type { DriverFacts } from '../errors.js'

interface ErrorLike {
  readonly message?: unknown
  readonly code?: unknown
  readonly severity?: unknown
}

/**
 * A SQLSTATE is five digits or capitals, in a class that never starts with E (Node's codes all do: EPIPE,
 * E2BIG). pg's server errors also carry a `severity`.
 */
const sqlStatePattern = /^[0-9A-DF-Z][0-9A-Z]{4}$/

/**
 * What a driver or server error says, in rxpg's `info` keys: its message (redacted), PostgreSQL's SQLSTATE
 * when the server sent the error, else the driver's or Node's own `code`.
 */
export function driverFacts(error: unknown, redact: (text: string) => string): DriverFacts {
  const { message, code, severity } = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike
  const detail = redact(typeof message === 'string' && message !== '' ? message : String(error))
  if (typeof code !== 'string') return { detail }
  return typeof severity === 'string' || sqlStatePattern.test(code) ? { detail, sqlState: code } : { detail, systemCode: code }
}

/**
 * The error to keep as `cause`: the original, unless one of its own texts (message, stack, or a property such
 * as Node's `input` of ERR_INVALID_URL, which holds the whole connection string) contains a secret; then a
 * plain copy with those texts redacted, so a logged cause never shows a password.
 */
export function redactedCause(error: unknown, redact: (text: string) => string): unknown {
  if (typeof error !== 'object' || error === null) return error
  const texts = Object.entries(Object.getOwnPropertyDescriptors(error)).filter(
    (entry): entry is [string, PropertyDescriptor & { value: string }] => typeof entry[1].value === 'string',
  )
  if (texts.every(([, descriptor]) => redact(descriptor.value) === descriptor.value)) return error
  const copy = new Error(redact(String((error as { message?: unknown }).message ?? '')))
  for (const [key, descriptor] of texts) Object.defineProperty(copy, key, { ...descriptor, value: redact(descriptor.value) })
  Object.defineProperty(copy, 'name', { value: (error as { name?: unknown }).name ?? 'Error', enumerable: false })
  return copy
}
