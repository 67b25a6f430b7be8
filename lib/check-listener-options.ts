/**
 * createPgListener's numeric options, checked when the listener is made (see option-checks.ts): an option left
 * out takes its default later; one given must be something the listener can honour.
 */
import type { BackoffOptions } from './backoff.js'
import type { NotifyOptions } from './notify/notify-batcher.js'
import { given, OptionChecks } from './option-checks.js'

const checks = new OptionChecks('rxpg')

export interface CheckedListenerOptions {
  readonly connectTimeout?: number
  readonly healthCheck?: { readonly interval?: number; readonly timeout?: number } | false
  readonly selfProbe?: { readonly timeout?: number } | false
  readonly reconnect?: BackoffOptions
  readonly notify?: NotifyOptions
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
