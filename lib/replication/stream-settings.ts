/**
 * A change stream's numeric options, with their defaults, checked when the stream is made: a value it cannot
 * honour (a status interval of 0 or NaN would tick in a loop, a `maxUnacknowledged` of NaN would never pause)
 * is a `RangeError` that names the option and the value.
 */
import { OptionChecks } from '../option-checks.js'

const checks = new OptionChecks('rxpg/replication')

export interface StreamSettingsInput {
  readonly maxUnacknowledged?: number
  readonly statusInterval?: number
  readonly connectTimeout?: number
  readonly slotInUseTimeout?: number
  readonly healthCheck?: { readonly interval?: number; readonly timeout?: number } | false
  readonly gatherReads?: { readonly behind?: number; readonly window?: number } | false
}

export interface StreamSettings {
  readonly maxUnacknowledged: number
  readonly statusInterval: number
  readonly connectTimeout: number
  readonly slotInUseTimeout: number
  readonly healthCheck: { readonly interval: number; readonly timeout: number } | false
  readonly gatherReads: { readonly behind: number; readonly window: number } | false
}

export function streamSettings(options: StreamSettingsInput): StreamSettings {
  const health = options.healthCheck
  const gather = options.gatherReads
  return {
    maxUnacknowledged: checks.positiveInteger('maxUnacknowledged', options.maxUnacknowledged ?? 10_000),
    statusInterval: checks.positiveMs('statusInterval', options.statusInterval ?? 1000),
    connectTimeout: checks.positiveMs('connectTimeout', options.connectTimeout ?? 10_000),
    slotInUseTimeout: checks.nonNegativeMs('slotInUseTimeout', options.slotInUseTimeout ?? 10_000),
    healthCheck:
      health === false
        ? false
        : { interval: checks.positiveMs('healthCheck.interval', health?.interval ?? 30_000), timeout: checks.positiveMs('healthCheck.timeout', health?.timeout ?? 5000) },
    gatherReads:
      gather === false
        ? false
        : { behind: checks.nonNegativeMs('gatherReads.behind', gather?.behind ?? 10), window: checks.positiveMs('gatherReads.window', gather?.window ?? 1) },
  }
}
