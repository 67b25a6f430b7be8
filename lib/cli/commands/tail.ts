/**
 * `rxpg tail <channel>`: prints a durable channel's messages (from a token, the earliest kept, or now), then
 * new ones as they commit, until Ctrl-C. One line each: the token, a tab, the value's JSON; with --json one
 * JSON object per line.
 */
import type { Command } from 'commander'
import { createPgListener, defineChannel, type DecodeError, type Either } from '../../index.js'
import { assertChannelName } from '../../identifiers.js'
import { createDurableLog, DEFAULT_SCHEMA, type DurableMessage } from '../../durable/index.js'
import { parseToken } from '../../durable/position.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { reportListener } from '../listener-report.js'
import type { CliOutput } from '../program.js'
import { jsonText, storedNumbers } from '../stored-json.js'
import { runUntilStopped } from '../until-stopped.js'

interface TailOptions extends DatabaseOptions {
  readonly from: string
  readonly schema: string
  readonly json?: boolean | undefined
}

export function registerTailCommand(program: Command, output: CliOutput): void {
  withDatabaseOption(
    program
      .command('tail')
      .description("Print a durable channel's messages, then new ones as they commit, until Ctrl-C.")
      .argument('<channel>', 'the durable channel')
      .option('--from <position>', "a resume token, 'earliest' (the first message kept) or 'now'", 'now')
      .option('--schema <name>', 'the schema of the durable log', DEFAULT_SCHEMA)
      .option('--json', 'one JSON object per line: {"token","channel","key","partition","appendedAt","value"}'),
  ).action(async (channel: string, options: TailOptions) => {
    assertChannelName(channel)
    // A malformed token is refused before connecting (whose issuer is checked once the log is read).
    if (options.from !== 'now' && options.from !== 'earliest') parseToken(options.from)
    const url = databaseUrlOf(options)
    const listener = createPgListener(url)
    // A reader: the log's maintenance (partitions, retention) is left to the applications that write, and it
    // has nothing to finish when stopped (closeTimeout 0: a connection still being opened is given up at once).
    const log = createDurableLog({ listener, pool: url, schema: options.schema, maintenanceInterval: false, closeTimeout: 0 })
    // Each value's JSON text as stored (json: false, a decoder that keeps it), printed with its numbers as stored
    // where a double cannot hold them (JSON.parse reads 1e400 as Infinity, which JSON.stringify prints as null).
    const stored = defineChannel(channel, (text: unknown): Either<never, string> => ({ _tag: 'Right', right: String(text) }), { json: false })
    const line = (message: DurableMessage<Either<DecodeError, string>>) => {
      const text = message.value._tag === 'Right' ? message.value.right : message.value.left.info.payload
      const numbers = storedNumbers(text)
      const value: unknown = JSON.parse(text)
      return options.json
        ? `${jsonText({ token: message.token, channel: message.channel, key: message.key ?? null, partition: message.partition, appendedAt: message.appendedAt.toISOString(), value }, new Map([['value', numbers]]))}\n`
        : `${message.token}\t${jsonText(value, numbers)}\n`
    }
    const say = (text: string) => output.err(`rxpg: ${text}\n`)
    const report = reportListener(listener.state$, say, `reading durable channel ${channel}`, 'read-on')
    const stalls = log.stalls$.subscribe((stall) =>
      say(
        stall.kind === 'stalled'
          ? `transaction ${stall.xid} has held every reader back for ${Math.round(stall.heldFor / 1000)} s (pid ${stall.holder?.pid ?? 'unknown'})${stall.holder?.pid == null ? '' : `; to end it: SELECT pg_terminate_backend(${stall.holder.pid})`}`
          : `transaction ${stall.xid} ended`,
      ),
    )
    await runUntilStopped(
      ({ complete, error }) => {
        // Pulled a message at a time, and no further while stdout is full: a reader slower than the log (a pipe
        // into a slow command) holds back the reading, not a backlog in memory.
        const stop = new AbortController()
        void (async () => {
          for await (const message of log.iterate(stored, { from: options.from, signal: stop.signal })) {
            if (output.out(line(message)) === false) await output.drained?.()
          }
        })().then(complete, error)
        return { unsubscribe: () => stop.abort() }
      },
      async () => {
        stalls.unsubscribe()
        report.unsubscribe()
        await log.close()
        await listener.close()
      },
    )
  })
}
