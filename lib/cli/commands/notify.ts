/**
 * `rxpg notify <channel> [payload]`: sends one notification and exits once it is committed. Without a payload
 * argument the payload is read from stdin when stdin is not a terminal (one trailing newline removed), else
 * it is empty. Checked as the library checks it (name, size, NUL) before anything is sent.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { createPgListener } from '../../index.js'
import { notificationProblem } from '../../identifiers.js'
import { isTimerMs, MAX_TIMER_MS } from '../../timer-limit.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import type { CliOutput } from '../program.js'

interface NotifyOptions extends DatabaseOptions {
  readonly timeout: number
}

/** `--timeout`: a positive whole number of ms (a NaN would never time out, and waiting for a server that cannot be reached would not end). */
function timeoutOption(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!(Number.isSafeInteger(ms) && isTimerMs(ms, true))) throw new InvalidArgumentError(`it must be a positive whole number of milliseconds, at most ${MAX_TIMER_MS} (about 24.8 days).`)
  return ms
}

export function registerNotifyCommand(program: Command, _output: CliOutput): void {
  withDatabaseOption(
    program
      .command('notify')
      .description('Send one notification; exits once it is committed.')
      .argument('<channel>', 'the channel name (exact, case-sensitive)')
      .argument('[payload]', "the payload (at most 7999 bytes of UTF-8); '-' or none: read stdin when it is not a terminal")
      .option('--timeout <ms>', 'give up when it could not be sent within this long (ms)', timeoutOption, 10_000),
  ).action(async (channel: string, payloadArgument: string | undefined, options: NotifyOptions) => {
    const payload = payloadArgument === undefined || payloadArgument === '-' ? await stdinPayload(payloadArgument === '-') : payloadArgument
    const problem = notificationProblem(channel, payload)
    if (problem) throw problem
    const timeout = options.timeout
    const db = createPgListener(databaseUrlOf(options), { connectTimeout: timeout, notify: { timeout, sendTimeout: timeout } })
    try {
      await db.notify(channel, payload)
    } finally {
      await db.close()
    }
  })
}

/** All of stdin with one trailing newline removed (as `$(…)` would), or '' when stdin is a terminal and not asked for. */
async function stdinPayload(asked: boolean): Promise<string> {
  if (process.stdin.isTTY && !asked) return ''
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}
