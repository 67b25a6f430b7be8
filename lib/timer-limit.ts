/**
 * The longest delay a timer can wait: Node and browsers run a longer `setTimeout` after 1 ms instead (Node with a
 * `TimeoutOverflowWarning`), so a time option above it, such as 30 days, would fire at once, and in a loop for a
 * periodic one. Time options are refused above it; a deadline further away (a credential's expiry) is waited
 * for in steps of at most this long.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** A time in ms a timer can wait: a number from 0 (or above 0 when `positive`) to MAX_TIMER_MS. */
export function isTimerMs(value: unknown, positive: boolean): value is number {
  return typeof value === 'number' && value <= MAX_TIMER_MS && (positive ? value > 0 : value >= 0)
}
