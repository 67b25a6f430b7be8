import type { StandardSchemaV1 } from '../../lib/index.js'

/**
 * A Standard Schema of strings whose validation of values starting with "slow" is asynchronous and settled by
 * the spec: `settle(value)` resolves it. Asynchronous validation needs real Promises, which marble specs cannot
 * hold, so these specs drive the order by hand.
 */
export function controlledSchema() {
  const pending = new Map<unknown, () => void>()
  const schema: StandardSchemaV1<unknown, string> = {
    '~standard': {
      version: 1,
      vendor: 'spec',
      validate: (value) => {
        if (typeof value !== 'string') return { issues: [{ message: 'expected a string' }] }
        if (!value.startsWith('slow')) return { value }
        return new Promise((resolve) => pending.set(value, () => resolve({ value })))
      },
    },
  }
  const settle = (value: string) => {
    pending.get(value)?.()
    pending.delete(value)
  }
  return { schema, settle, pending }
}

/** Lets every settled Promise run its callbacks. */
export const flushPromises = () => new Promise<void>((resolve) => setImmediate(resolve))
