/**
 * Checks of numeric options, for the places that take them when something is made (a listener, a change
 * stream): a value that cannot be honoured (an interval of 0 or NaN would tick in a loop, a bound of NaN would
 * never bind) is a `RangeError` naming the option, what it must be, and the value given.
 */
import { isTimerMs, MAX_TIMER_MS } from './timer-limit.js'

/** How the longest time a timer can wait is named in messages. */
export const MAX_LABEL = `${MAX_TIMER_MS} (about 24.8 days, the longest a timer can wait)`

export class OptionChecks {
  /** `prefix` starts every message: `rxpg`, `rxpg/replication`. */
  constructor(private readonly prefix: string) {}

  positiveInteger(option: string, value: number): number {
    return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : this.refuse(option, 'a positive integer', value)
  }

  positiveMs(option: string, value: number): number {
    return isTimerMs(value, true) ? value : this.refuse(option, `a positive number of ms, at most ${MAX_LABEL}`, value)
  }

  nonNegativeMs(option: string, value: number): number {
    return isTimerMs(value, false) ? value : this.refuse(option, `a number of ms from 0 to ${MAX_LABEL}`, value)
  }

  /** A whole number from `min` to `max`. */
  integerBetween(option: string, value: number, min: number, max: number): number {
    return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : this.refuse(option, `a whole number from ${min} to ${max}`, value)
  }

  /** A positive, finite number (a size or an age, not a timer's delay). */
  positiveFinite(option: string, value: number, unit: string): number {
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : this.refuse(option, `a positive, finite number of ${unit}`, value)
  }

  atLeastOne(option: string, value: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? value : this.refuse(option, 'a finite number, 1 or more', value)
  }

  fraction(option: string, value: number): number {
    return typeof value === 'number' && value >= 0 && value <= 1 ? value : this.refuse(option, 'a number from 0 to 1', value)
  }

  private refuse(option: string, expected: string, value: unknown): never {
    throw new RangeError(`${this.prefix}: ${option} must be ${expected}; got ${String(value)}`)
  }
}
