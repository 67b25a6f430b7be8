/**
 * The errors that mean "this position cannot be resumed", by their stable codes: a durable token older than
 * the retention (`'expired'`), or one this log did not issue: malformed, from another database or schema, or
 * ahead of a restored database (`'invalid'`). Read by code, so a source that only wraps a durable log needs
 * nothing more.
 */
export function durableResetReason(error: unknown): 'expired' | 'invalid' | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  if (code === 'DURABLE_CURSOR_EXPIRED') return 'expired'
  if (code === 'DURABLE_INVALID_TOKEN') return 'invalid'
  return undefined
}
