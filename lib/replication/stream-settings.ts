/**
 * A change stream's numeric options, with their defaults, checked when the stream is made: a value it cannot
 * honour (a status interval of 0 or NaN would tick in a loop, a `maxUnacknowledged` of NaN would never pause)
 * is a `RangeError` that names the option and the value.
 */

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
    maxUnacknowledged: positiveInteger('maxUnacknowledged', options.maxUnacknowledged ?? 10_000),
    statusInterval: positiveMs('statusInterval', options.statusInterval ?? 1000),
    connectTimeout: positiveMs('connectTimeout', options.connectTimeout ?? 10_000),
    slotInUseTimeout: nonNegativeMs('slotInUseTimeout', options.slotInUseTimeout ?? 10_000),
    healthCheck:
      health === false
        ? false
        : { interval: positiveMs('healthCheck.interval', health?.interval ?? 30_000), timeout: positiveMs('healthCheck.timeout', health?.timeout ?? 5000) },
  }
}

function refuse(option: string, expected: string, value: unknown): never {
  throw new RangeError(`rxpg/replication: ${option} must be ${expected}; got ${String(value)}`)
}

function positiveInteger(option: string, value: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : refuse(option, 'a positive integer', value)
}

function positiveMs(option: string, value: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : refuse(option, 'a positive, finite number of ms', value)
}

function nonNegativeMs(option: string, value: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : refuse(option, 'a finite number of ms, 0 or more', value)
}
