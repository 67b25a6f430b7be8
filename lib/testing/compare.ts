import { isDeepStrictEqual } from 'node:util'

/** What an error is compared by: its class name and, for rxpg's typed errors, `code` and `info`; else its message. */
export type ErrorShape =
  | { readonly name: string; readonly code: unknown; readonly info: unknown }
  | { readonly name: string; readonly message: string }

/**
 * The comparable part of an error: `{ name, code, info }` for errors that carry a `code` (every rxpg error,
 * and Node's system errors), `{ name, message }` otherwise. Never the stack, which differs per instance.
 */
export function errorShape(error: Error): ErrorShape {
  const { code, info } = error as Error & { code?: unknown; info?: unknown }
  if (code !== undefined) return { name: error.name, code, info: comparable(info) }
  return { name: error.name, message: error.message }
}

/** True when two errors have the same `errorShape`: the same class name and code, and equal `info`. */
export function sameError(actual: unknown, expected: unknown): boolean {
  if (!(actual instanceof Error) || !(expected instanceof Error)) return false
  return isDeepStrictEqual(errorShape(actual), errorShape(expected))
}

/**
 * A copy of `value` in which every Error (however deep, in arrays and plain objects) is replaced by its
 * `errorShape`, so that two marble frames compare errors by what they say rather than by identity or stack.
 */
export function comparable(value: unknown): unknown {
  if (value instanceof Error) return errorShape(value)
  if (Array.isArray(value)) return value.map(comparable)
  if (typeof value === 'object' && value !== null) {
    const prototype: unknown = Object.getPrototypeOf(value)
    if (prototype !== Object.prototype && prototype !== null) return value
    const copy: Record<string, unknown> = {}
    for (const [key, inner] of Object.entries(value)) copy[key] = comparable(inner)
    return copy
  }
  return value
}
