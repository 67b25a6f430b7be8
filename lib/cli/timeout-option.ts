/**
 * `--timeout <ms>`, for the commands that must answer (notify, sql changes, changes' start check): a server that
 * accepts connections and never answers (a paused pooler, a hung server) would otherwise keep them waiting for
 * ever, without a word.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { isTimerMs, MAX_TIMER_MS } from '../timer-limit.js'

export const DEFAULT_TIMEOUT_MS = 10_000

export interface TimeoutOptions {
  readonly timeout: number
}

/** A positive whole number of ms (a NaN would never time out, and waiting for a server that cannot be reached would not end). */
export function timeoutOption(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!(Number.isSafeInteger(ms) && isTimerMs(ms, true))) throw new InvalidArgumentError(`it must be a positive whole number of milliseconds, at most ${MAX_TIMER_MS} (about 24.8 days).`)
  return ms
}

/** Adds `--timeout <ms>` (default 10000) to `command`; `what` says what gives up. */
export function withTimeoutOption(command: Command, what: string): Command {
  return command.option('--timeout <ms>', `${what} (ms)`, timeoutOption, DEFAULT_TIMEOUT_MS)
}
