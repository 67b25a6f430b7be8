/**
 * createPgListener's options, checked when the listener is made (see option-checks.ts): every name must be one
 * it takes, in the argument that takes it; an option left out takes its default later; one given must be
 * something the listener can honour.
 */
import type { BackoffOptions } from './backoff.js'
import type { PgListenerOptions } from './create-pg-listener.js'
import type { NotifyOptions } from './notify/notify-batcher.js'
import { BACKOFF_OPTION_NAMES, checkOptionNames, given, HEALTH_CHECK_OPTION_NAMES, OptionChecks } from './option-checks.js'
import type { PgConnectionConfig } from './pg/config.js'

const checks = new OptionChecks('rxpg')

/** The options createPgListener takes, and those of each nested bag (a key added to a type must be added here). */
const LISTENER_OPTIONS = {
  scheduler: true,
  reconnect: true,
  connectTimeout: true,
  healthCheck: true,
  selfProbe: true,
  notify: true,
  source: true,
  transport: true,
  log: true,
} as const satisfies Record<keyof PgListenerOptions, true>
const SELF_PROBE_OPTIONS = { timeout: true } as const satisfies Record<keyof Exclude<PgListenerOptions['selfProbe'], false | undefined>, true>
const NOTIFY_OPTIONS = {
  maxQueue: true,
  maxBatchSize: true,
  batchWindow: true,
  timeout: true,
  sendTimeout: true,
  closeTimeout: true,
  pool: true,
} as const satisfies Record<keyof NonNullable<PgListenerOptions['notify']>, true>

/**
 * Refuses option names createPgListener does not take, and its own options put in the connection config (pg
 * ignores keys it does not know, so `createPgListener({ connectionString, reconnect })` ran with the defaults).
 * @throws TypeError naming the option and where it goes.
 */
export function checkListenerOptionNames(config: PgConnectionConfig, options: unknown): void {
  if (typeof config === 'object' && config !== null) {
    const misplaced = Object.keys(config).find((key) => Object.hasOwn(LISTENER_OPTIONS, key))
    if (misplaced !== undefined) {
      throw new TypeError(
        `rxpg: ${misplaced} is an option of createPgListener's second argument, not of the connection config (pg would ignore it): createPgListener(config, { ${misplaced} })`,
      )
    }
  }
  checkOptionNames('rxpg', 'createPgListener', options, LISTENER_OPTIONS, { noun: "createPgListener's options" })
  const bag = options as PgListenerOptions
  checkOptionNames('rxpg', "createPgListener's reconnect", bag.reconnect, BACKOFF_OPTION_NAMES)
  checkOptionNames('rxpg', "createPgListener's healthCheck", bag.healthCheck, HEALTH_CHECK_OPTION_NAMES, { offable: true })
  checkOptionNames('rxpg', "createPgListener's selfProbe", bag.selfProbe, SELF_PROBE_OPTIONS, { offable: true })
  checkOptionNames('rxpg', "createPgListener's notify", bag.notify, NOTIFY_OPTIONS)
}

export interface CheckedListenerOptions {
  readonly connectTimeout?: number | undefined
  readonly healthCheck?: { readonly interval?: number | undefined; readonly timeout?: number | undefined } | false | undefined
  readonly selfProbe?: { readonly timeout?: number | undefined } | false | undefined
  readonly reconnect?: BackoffOptions | undefined
  readonly notify?: NotifyOptions | undefined
}

/** @throws RangeError naming the first option that cannot be honoured, what it must be, and its value. */
export function checkListenerOptions(options: CheckedListenerOptions): void {
  given(options.connectTimeout, (value) => checks.positiveMs('connectTimeout', value))
  if (options.healthCheck) {
    given(options.healthCheck.interval, (value) => checks.positiveMs('healthCheck.interval', value))
    given(options.healthCheck.timeout, (value) => checks.positiveMs('healthCheck.timeout', value))
  }
  if (options.selfProbe) given(options.selfProbe.timeout, (value) => checks.positiveMs('selfProbe.timeout', value))
  const reconnect = options.reconnect ?? {}
  given(reconnect.initialDelay, (value) => checks.nonNegativeMs('reconnect.initialDelay', value))
  given(reconnect.maxDelay, (value) => checks.nonNegativeMs('reconnect.maxDelay', value))
  given(reconnect.factor, (value) => checks.atLeastOne('reconnect.factor', value))
  given(reconnect.jitter, (value) => checks.fraction('reconnect.jitter', value))
  const notify = options.notify ?? {}
  given(notify.maxQueue, (value) => checks.positiveInteger('notify.maxQueue', value))
  given(notify.maxBatchSize, (value) => checks.positiveInteger('notify.maxBatchSize', value))
  given(notify.batchWindow, (value) => checks.nonNegativeMs('notify.batchWindow', value))
  given(notify.timeout, (value) => checks.positiveMs('notify.timeout', value))
  given(notify.sendTimeout, (value) => checks.positiveMs('notify.sendTimeout', value))
  given(notify.closeTimeout, (value) => checks.nonNegativeMs('notify.closeTimeout', value))
}
