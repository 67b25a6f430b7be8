/**
 * A change stream's numeric options, with their defaults, checked when the stream is made: a value it cannot
 * honour (a status interval of 0 or NaN would tick in a loop, a `maxUnacknowledged` of NaN would never pause)
 * is a `RangeError` that names the option and the value.
 */
import { describeValue } from '../errors.js'
import { BACKOFF_OPTION_NAMES, checkOptionNames, HEALTH_CHECK_OPTION_NAMES, OptionChecks } from '../option-checks.js'
import type { ChangeStreamOptions } from './change-stream.js'

const checks = new OptionChecks('rxpg/replication')

export interface StreamSettingsInput {
  readonly maxUnacknowledged?: number | undefined
  readonly statusInterval?: number | undefined
  readonly connectTimeout?: number | undefined
  readonly slotInUseTimeout?: number | undefined
  readonly healthCheck?: { readonly interval?: number | undefined; readonly timeout?: number | undefined } | false | undefined
  readonly gatherReads?: { readonly behind?: number | undefined; readonly window?: number | undefined } | false | undefined
  readonly recheckInterval?: number | false | undefined
}

export interface StreamSettings {
  readonly maxUnacknowledged: number
  readonly statusInterval: number
  readonly connectTimeout: number
  readonly slotInUseTimeout: number
  readonly healthCheck: { readonly interval: number; readonly timeout: number } | false
  readonly gatherReads: { readonly behind: number; readonly window: number } | false
  readonly recheckInterval: number | false
}

/** The options a change stream takes (a key added to the type must be added here). */
const STREAM_OPTIONS = {
  slot: true,
  publication: true,
  resumeAfter: true,
  until: true,
  onInvalid: true,
  maxUnacknowledged: true,
  statusInterval: true,
  checkpoints: true,
  recheckInterval: true,
  healthCheck: true,
  gatherReads: true,
  reconnect: true,
  connectTimeout: true,
  slotInUseTimeout: true,
  scheduler: true,
  source: true,
  tables: true,
} as const satisfies Record<keyof ChangeStreamOptions | 'tables', true>
const GATHER_READS_OPTIONS = { behind: true, window: true } as const satisfies Record<keyof Exclude<ChangeStreamOptions['gatherReads'], false | undefined>, true>

/**
 * Refuses option names a stream does not take: a misspelt `resumeAfter` would start from the slot's position
 * rather than after the token stored with the user's effects.
 * @throws TypeError naming the option and those taken there.
 */
export function checkStreamOptionNames(call: string, options: unknown): void {
  checkOptionNames('rxpg/replication', call, options, STREAM_OPTIONS, { noun: `${call}'s options`, required: true })
  const bag = options as ChangeStreamOptions
  checkOptionNames('rxpg/replication', `${call}'s healthCheck`, bag.healthCheck, HEALTH_CHECK_OPTION_NAMES, { offable: true })
  checkOptionNames('rxpg/replication', `${call}'s gatherReads`, bag.gatherReads, GATHER_READS_OPTIONS, { offable: true })
  checkOptionNames('rxpg/replication', `${call}'s reconnect`, bag.reconnect, BACKOFF_OPTION_NAMES)
  const until: unknown = bag.until
  if (until !== undefined && until !== 'now') {
    throw new TypeError(
      `rxpg/replication: ${call}'s until must be 'now' (complete once every change committed before the stream first connected is delivered) or undefined (never complete); got ${describeValue(until)}`,
    )
  }
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
    // null is refused (a positive number of ms, or false), not read as the default.
    recheckInterval: options.recheckInterval === false ? false : checks.positiveMs('recheckInterval (or false)', options.recheckInterval === undefined ? 30_000 : options.recheckInterval),
    gatherReads:
      gather === false
        ? false
        : { behind: checks.nonNegativeMs('gatherReads.behind', gather?.behind ?? 10), window: checks.positiveMs('gatherReads.window', gather?.window ?? 3) },
  }
}
