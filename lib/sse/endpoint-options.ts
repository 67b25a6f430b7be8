import { isObservable } from 'rxjs'
import { CONTROL_PREFIX } from '../browser/protocol.js'
import { isFieldSafe } from './framing.js'
import type { SseEndpointOptions } from './types.js'
import { checkOptionNames, MAX_LABEL } from '../option-checks.js'
import { isTimerMs } from '../timer-limit.js'

/** The options createSseEndpoint takes (a key added to the type must be added here). */
const ENDPOINT_OPTIONS = {
  channels: true,
  authorize: true,
  canSee: true,
  heartbeat: true,
  retry: true,
  maxLifetime: true,
  maxBufferedBytes: true,
  drainTimeout: true,
  shutdownSpread: true,
  scheduler: true,
  random: true,
  onError: true,
} as const satisfies Record<keyof SseEndpointOptions<unknown, unknown>, true>

/**
 * Refuses an endpoint's options that could not work, when the endpoint is made rather than on every request:
 * no channel, a channel that is neither an Observable nor a source, a name a stream cannot carry, or a
 * duration, size or `retry:` that is not a usable number (a heartbeat of 0 ms would write comments in a loop).
 * Throws a RangeError (a TypeError for a channel of the wrong kind, or an option it does not take: a misspelt
 * one would run with its default) that names the option.
 */
export function assertEndpointOptions<C, U>(options: SseEndpointOptions<C, U>): void {
  checkOptionNames('rxpg/sse', 'createSseEndpoint', options, ENDPOINT_OPTIONS, { noun: "createSseEndpoint's options", required: true })
  const entries = Object.entries(options.channels ?? {}) as Array<[string, unknown]>
  if (entries.length === 0) throw new RangeError('rxpg/sse: createSseEndpoint needs at least one channel in `channels`')
  for (const [name, given] of entries) {
    if (name === '' || name.startsWith(CONTROL_PREFIX) || !isFieldSafe(name)) {
      throw new RangeError(`rxpg/sse: channel name ${JSON.stringify(name)} cannot be used: it is empty, starts with "${CONTROL_PREFIX}", or holds CR, LF or NUL`)
    }
    if (!isObservable(given) && typeof (given as { open?: unknown } | undefined)?.open !== 'function') {
      throw new TypeError(`rxpg/sse: channel ${JSON.stringify(name)} must be an Observable or a source (durableSource, resumableSource, liveSource); got ${describe(given)}`)
    }
  }
  period('heartbeat', options.heartbeat, true)
  period('maxLifetime', options.maxLifetime, true)
  period('drainTimeout', options.drainTimeout, false)
  if (options.retry !== undefined && !(Number.isSafeInteger(options.retry) && isTimerMs(options.retry, false))) {
    throw new RangeError(`rxpg/sse: retry must be a whole number of ms from 0 to ${MAX_LABEL} (it is written as the retry: field, which clients wait); got ${String(options.retry)}`)
  }
  if (options.maxBufferedBytes !== undefined && !(Number.isSafeInteger(options.maxBufferedBytes) && options.maxBufferedBytes > 0)) {
    throw new RangeError(`rxpg/sse: maxBufferedBytes must be a positive whole number of bytes; got ${String(options.maxBufferedBytes)}`)
  }
  if (options.shutdownSpread !== undefined && !isTimerMs(options.shutdownSpread, false)) {
    throw new RangeError(`rxpg/sse: shutdownSpread must be a number of ms from 0 to ${MAX_LABEL}; got ${String(options.shutdownSpread)}`)
  }
}

/** A duration in ms a timer can wait (timer-limit.ts), or `false` where the option can be turned off. */
function period(name: string, value: unknown, canBeOff: boolean): void {
  if (value === undefined || (canBeOff && value === false)) return
  if (!isTimerMs(value, true)) {
    throw new RangeError(`rxpg/sse: ${name} must be a positive number of ms, at most ${MAX_LABEL}${canBeOff ? ', or false' : ''}; got ${String(value)}`)
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return (value as { constructor?: { name?: string | undefined } | undefined }).constructor?.name ?? 'an object'
}
