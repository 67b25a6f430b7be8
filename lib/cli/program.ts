/**
 * The `rxpg` command line: one file per command under commands/, each registered on the program here (as a
 * subcommand it inherits the output and error handling).
 * Built with commander (argument parsing, `--help`, errors for unknown options) rather than by hand.
 */
import { Command } from 'commander'
import { registerSqlCommand } from './commands/sql.js'

export interface CliOutput {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

/** The whole program; `main.ts` runs it on process.argv, specs run it on their own arguments and output. */
export function createProgram(output: CliOutput): Command {
  const program = new Command('rxpg')
    .description('PostgreSQL LISTEN/NOTIFY as RxJS streams: tools for rxpg users.')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError()
    .exitOverride()
  registerSqlCommand(program, output)
  return program
}
