/**
 * Checks of numeric options, for the places that take them when something is made (a listener, a change
 * stream): a value that cannot be honoured (an interval of 0 or NaN would tick in a loop, a bound of NaN would
 * never bind) is a `RangeError` naming the option, what it must be, and the value given.
 */
export class OptionChecks {
  /** `prefix` starts every message: `rxpg`, `rxpg/replication`. */
  constructor(private readonly prefix: string) {}

  positiveInteger(option: string, value: number): number {
    return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : this.refuse(option, 'a positive integer', value)
  }

  positiveMs(option: string, value: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : this.refuse(option, 'a positive, finite number of ms', value)
  }

  nonNegativeMs(option: string, value: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : this.refuse(option, 'a finite number of ms, 0 or more', value)
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
