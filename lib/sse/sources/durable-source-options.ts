import { checkOptionNames } from '../../option-checks.js'
import type { DurableSourceOptions } from './durable-source.js'

/** The options durableSource takes (a key added to the type must be added here). */
const DURABLE_SOURCE_OPTIONS = { from: true, pageSize: true, maxHeldWhileCatchingUp: true } as const satisfies Record<keyof DurableSourceOptions, true>

/**
 * Refuses `durableSource` options that could not work, when the source is made: a page size or a hold that is
 * not a positive whole number (a page of 0 would never advance; a hold of 0 would never let a catch-up join
 * while messages keep coming), or a starting point other than 'now' and 'earliest'. A RangeError naming the option;
 * a TypeError for an option it does not take (a misspelt `from` would start from 'now' and skip the backlog).
 */
export function assertDurableSourceOptions(options: DurableSourceOptions): void {
  checkOptionNames('rxpg/sse', 'durableSource', options, DURABLE_SOURCE_OPTIONS, { noun: "durableSource's options" })
  for (const name of ['pageSize', 'maxHeldWhileCatchingUp'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(`rxpg/sse: durableSource's ${name} must be a positive whole number; got ${String(value)}`)
    }
  }
  if (options.from !== undefined && options.from !== 'now' && options.from !== 'earliest') {
    throw new RangeError(`rxpg/sse: durableSource's from must be 'now' or 'earliest'; got ${String(options.from)}`)
  }
}
