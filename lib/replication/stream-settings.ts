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
}

export interface StreamSettings {
  readonly maxUnacknowledged: number
  readonly statusInterval: number
  readonly connectTimeout: number
  readonly slotInUseTimeout: number
  readonly healthCheck: { readonly interval: number; readonly timeout: number } | false
}

export function streamSettings(options: StreamSettingsInput): StreamSettings {
  const health = options.healthCheck
  return {
    maxUnacknowledged: checks.positiveInteger('maxUnacknowledged', options.maxUnacknowledged ?? 10_000),
    statusInterval: checks.positiveMs('statusInterval', options.statusInterval ?? 1000),
    connectTimeout: checks.positiveMs('connectTimeout', options.connectTimeout ?? 10_000),
    slotInUseTimeout: checks.nonNegativeMs('slotInUseTimeout', options.slotInUseTimeout ?? 10_000),
    healthCheck:
      health === false
        ? false
        : { interval: checks.positiveMs('healthCheck.interval', health?.interval ?? 30_000), timeout: checks.positiveMs('healthCheck.timeout', health?.timeout ?? 5000) },
  }
}
