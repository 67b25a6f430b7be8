/**
 * The `rxpg` command line: one file per command under commands/, each registered on the program here (as a
 * subcommand it inherits the output and error handling). Exit codes are in exit-codes.ts.
 * Built with commander (argument parsing, `--help`, errors for unknown options) rather than by hand.
 */
import { Command } from 'commander'
import { registerChangesCommand } from './commands/changes.js'
import { registerListenCommand } from './commands/listen.js'
import { registerNotifyCommand } from './commands/notify.js'
import { registerSqlCommand } from './commands/sql.js'
import { registerTailCommand } from './commands/tail.js'

export interface CliOutput {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

/** The whole program; `main.ts` runs it on process.argv, specs run it on their own arguments and output. */
export function createProgram(output: CliOutput): Command {
  const program = new Command('rxpg')
    .description('PostgreSQL LISTEN/NOTIFY as RxJS streams: tools for rxpg users. Exit codes: 0 done (or stopped by Ctrl-C), 1 failed, 2 usage, 3 no connection.')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError()
    .exitOverride()
  registerListenCommand(program, output)
  registerNotifyCommand(program, output)
  registerTailCommand(program, output)
  registerChangesCommand(program, output)
  registerSqlCommand(program, output)
  return program
}
