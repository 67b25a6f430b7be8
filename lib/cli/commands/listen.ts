/**
 * `rxpg listen <channel...>`: prints notifications as they arrive, until Ctrl-C. One line each: the channel, a
 * tab, the payload; with --json one JSON object per line. On stderr: when listening, and every reconnection.
 */
import type { Command } from 'commander'
import { merge } from 'rxjs'
import { createPgListener, type PgNotification } from '../../index.js'
import { assertChannelName } from '../../identifiers.js'
import { databaseUrlOf, withDatabaseOption, type DatabaseOptions } from '../database-option.js'
import { reportListener } from '../listener-report.js'
import type { CliOutput } from '../program.js'
import { runUntilStopped } from '../until-stopped.js'

interface ListenOptions extends DatabaseOptions {
  readonly json?: boolean | undefined
}

export function registerListenCommand(program: Command, output: CliOutput): void {
  withDatabaseOption(
    program
      .command('listen')
      .description('Print the notifications of one or more channels as they arrive, until Ctrl-C; reconnects by itself.')
      .argument('<channel...>', 'channel names (exact, case-sensitive)')
      .option('--json', 'one JSON object per line: {"channel","payload","processId","receivedAt"}'),
  ).action(async (named: string[], options: ListenOptions) => {
    for (const channel of named) assertChannelName(channel)
    // A channel named twice is listened to once: merging it twice printed each notification twice.
    const channels = [...new Set(named)]
    const db = createPgListener(databaseUrlOf(options))
    const print = (n: PgNotification) =>
      output.out(
        options.json
          ? `${JSON.stringify({ channel: n.channel, payload: n.payload, processId: n.processId, receivedAt: new Date(n.receivedAt).toISOString() })}\n`
          : `${n.channel}\t${n.payload}\n`,
      )
    const report = reportListener(db.state$, (line) => output.err(`rxpg: ${line}\n`), `listening on ${channels.join(', ')}`)
    await runUntilStopped(
      ({ complete, error }) => merge(...channels.map((channel) => db.channel(channel))).subscribe({ next: print, error, complete }),
      async () => {
        report.unsubscribe()
        await db.close()
      },
    )
  })
}
