/**
 * Checks of options, for the places that take them when something is made (a listener, a change stream): a
 * name it does not take is a `TypeError` naming it and the names taken there (a misspelt option would run with
 * its default); a value that cannot be honoured (an interval of 0 or NaN would tick in a loop, a bound of NaN
 * would never bind) is a `RangeError` naming the option, what it must be, and the value given.
 */
import type { BackoffOptions } from './backoff.js'
import { describeValue, isObjectArgument } from './errors.js'
import { isTimerMs, MAX_TIMER_MS } from './timer-limit.js'

/** Runs `check` on an option that was given; one left out takes its default later. */
export function given<T>(value: T | undefined, check: (value: T) => unknown): void {
  if (value !== undefined) check(value)
}

/** `fields` without those given as `undefined`, to spread over defaults: a field given as undefined keeps its default. */
export function definedFields<T extends object>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}

/** The first own key of `options` that `known` does not have: an option misspelt, or meant for another call. */
export function unknownOption(options: object, known: object): string | undefined {
  return Object.keys(options).find((key) => !Object.hasOwn(known, key))
}

/** How a set of option names is written in messages: `{ a, b }`. */
export function optionShape(known: object): string {
  return `{ ${Object.keys(known).join(', ')} }`
}

/**
 * Refuses an option bag a call cannot take: not an object, or with a key it does not know. A misspelt option
 * (`reconect`, `intervall`) would otherwise run with its default without a word. `undefined` is the defaults;
 * `offable` options also take `false`; `required` ones do not take `undefined`.
 * @param owner what has the options, as messages name it: `createPgListener`, `createPgListener's reconnect`.
 * @param noun how messages name the bag itself when it is not an object (default: `owner`).
 * @throws TypeError naming the option, or the bag, and what is taken there.
 */
export function checkOptionNames(prefix: string, owner: string, options: unknown, known: object, { noun = owner, offable = false, required = false } = {}): void {
  if ((options === undefined && !required) || (offable && options === false)) return
  if (!isObjectArgument(options)) {
    throw new TypeError(`${prefix}: ${noun} must be an object ${optionShape(known)}${offable ? ', or false' : ''}; got ${describeValue(options)}`)
  }
  const unknown = unknownOption(options, known)
  if (unknown !== undefined) throw new TypeError(`${prefix}: ${owner} has no option ${JSON.stringify(unknown)}; its options are ${optionShape(known)}`)
}

/** The options of a back-off (`reconnect`, `backoff`), wherever one is taken. */
export const BACKOFF_OPTION_NAMES = { initialDelay: true, maxDelay: true, factor: true, jitter: true, random: true } as const satisfies Record<keyof BackoffOptions, true>

/** The options of a health check (the listener's, a change stream's). */
export const HEALTH_CHECK_OPTION_NAMES = { interval: true, timeout: true } as const

/** How the longest time a timer can wait is named in messages. */
export const MAX_LABEL = `${MAX_TIMER_MS} (about 24.8 days, the longest a timer can wait)`

export class OptionChecks {
  /** `prefix` starts every message: `rxpg`, `rxpg/replication`. */
  constructor(private readonly prefix: string) {}

  positiveInteger(option: string, value: number): number {
    return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : this.refuse(option, 'a positive integer', value)
  }

  positiveMs(option: string, value: number): number {
    return isTimerMs(value, true) ? value : this.refuse(option, `a positive number of ms, at most ${MAX_LABEL}`, value)
  }

  nonNegativeMs(option: string, value: number): number {
    return isTimerMs(value, false) ? value : this.refuse(option, `a number of ms from 0 to ${MAX_LABEL}`, value)
  }

  /** A time a timer can wait, 0 included, or Infinity for no limit (no timer at all). */
  nonNegativeMsOrInfinity(option: string, value: number): number {
    return value === Number.POSITIVE_INFINITY || isTimerMs(value, false) ? value : this.refuse(option, `a number of ms from 0 to ${MAX_LABEL}, or Infinity`, value)
  }

  /** A whole number from `min` to `max`. */
  integerBetween(option: string, value: number, min: number, max: number): number {
    return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : this.refuse(option, `a whole number from ${min} to ${max}`, value)
  }


  /** A whole number of seconds, given in ms: 1000, 2000, … up to `max`. */
  wholeSecondsMs(option: string, value: number, max: number): number {
    return typeof value === 'number' && Number.isInteger(value) && value % 1000 === 0 && value >= 1000 && value <= max
      ? value
      : this.refuse(option, `a whole number of seconds in ms, from 1000 to ${max}`, value)
  }

  atLeastOne(option: string, value: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? value : this.refuse(option, 'a finite number, 1 or more', value)
  }

  fraction(option: string, value: number): number {
    return typeof value === 'number' && value >= 0 && value <= 1 ? value : this.refuse(option, 'a number from 0 to 1', value)
  }

  private refuse(option: string, expected: string, value: unknown): never {
    // A string of digits printed as it is reads like a number that was refused.
    throw new RangeError(`${this.prefix}: ${option} must be ${expected}; got ${typeof value === 'string' ? `${JSON.stringify(value)} (a string)` : String(value)}`)
  }
}
