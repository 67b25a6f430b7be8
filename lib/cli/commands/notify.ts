/**
 * `rxpg notify <channel> [payload]`: sends one notification and exits once it is committed. Without a payload
 * argument the payload is read from stdin when stdin is not a terminal (as it is, a byte-order mark included, but for one
 * trailing line break; not UTF-8: refused), else it is empty. Checked as the library checks it (name, size, NUL) before
 * anything is sent. Arguments holding U+FFFD (a byte that was not UTF-8) are refused for every command (argument-encoding.ts).
 */
import type { Command } from 'commander'
import { createPgListener } from '../../index.js'
import { notificationProblem } from '../../identifiers.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { UsageError } from '../exit-codes.js'
import type { CliOutput } from '../program.js'
import { withTimeoutOption, type TimeoutOptions } from '../timeout-option.js'

interface NotifyOptions extends DatabaseOptions, TimeoutOptions {}

export function registerNotifyCommand(program: Command, _output: CliOutput): void {
  withDatabaseOption(
    withTimeoutOption(
      program
        .command('notify')
        .description('Send one notification; exits once it is committed.')
        .argument('<channel>', 'the channel name (exact, case-sensitive)')
        .argument('[payload]', "the payload (at most 7999 bytes of UTF-8); '-' or none: read stdin when it is not a terminal"),
      'give up when it could not be sent within this long',
    ),
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

/**
 * All of stdin with one trailing line break (`\n` or `\r\n`) removed (as `$(…)` would), or '' when stdin is a
 * terminal and not asked for. Bytes that are not UTF-8 are refused: decoded, they would be sent as U+FFFD. A
 * byte-order mark at the start is kept (ignoreBOM): TextDecoder drops it by default, and the payload is what stdin held.
 */
async function stdinPayload(asked: boolean): Promise<string> {
  if (process.stdin.isTTY && !asked) return ''
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const bytes = Buffer.concat(chunks)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    throw new UsageError(`the payload on stdin is not valid UTF-8 (byte ${firstInvalidByte(bytes)}): nothing was sent`)
  }
  return text.replace(/\r?\n$/, '')
}

/** Where `bytes` stop being UTF-8, counted from 1: fed one at a time, the byte that no later byte can complete (the end, for a character cut short). */
function firstInvalidByte(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  for (let index = 0; index < bytes.length; index++) {
    try {
      decoder.decode(bytes.subarray(index, index + 1), { stream: true })
    } catch {
      return index + 1
    }
  }
  return bytes.length
}
