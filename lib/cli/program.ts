/**
 * The `rxpg` command line: one file per command under commands/, each registered on the program here (as a
 * subcommand it inherits the output and error handling). Exit codes are in exit-codes.ts.
 * Built with commander (argument parsing, `--help`, errors for unknown options) rather than by hand.
 */
import { Command } from 'commander'
import { registerChangesCommand } from './commands/changes.js'
import { registerListenCommand } from './commands/listen.js'
import { registerNotifyCommand } from './commands/notify.js'
import { registerGroupCommand } from './commands/group.js'
import { registerSqlCommand } from './commands/sql.js'
import { registerTailCommand } from './commands/tail.js'
import { RXPG_VERSION } from './version.js'
import { refuseRepeatedOptions } from './repeated-options.js'
import { refuseReplacementCharacters } from './argument-encoding.js'
import { redactCredentials } from '../pg/secrets.js'

export interface CliOutput {
  /** Writes to stdout; `false` when it is full (its reader is slower than the command): more after `drained()`. */
  readonly out: (text: string) => boolean | void
  readonly err: (text: string) => void
  /** Resolves once stdout takes more after `out` returned `false` (its 'drain'); left out, nothing waits for it. */
  readonly drained?: (() => Promise<void>) | undefined
}

/** The whole program; `main.ts` runs it on process.argv, specs run it on their own arguments and output. */
export function createProgram(output: CliOutput): Command {
  const program = new Command('rxpg')
    .description('PostgreSQL LISTEN/NOTIFY as RxJS streams: tools for rxpg users. Exit codes: 0 done (or stopped by Ctrl-C), 1 failed, 2 usage, 3 no connection.')
    .version(RXPG_VERSION, '--version', "print rxpg's version")
    .exitOverride()
  registerListenCommand(program, output)
  registerNotifyCommand(program, output)
  registerTailCommand(program, output)
  registerChangesCommand(program, output)
  registerGroupCommand(program, output)
  registerSqlCommand(program, output)
  // Every command's output, set once all are registered (commander copies a parent's settings only at creation).
  sayUsageErrorsInOneLine(program, output)
  // Before refuseRepeatedOptions, which wraps it: an option given twice is said as such first.
  refuseReplacementCharacters(program)
  refuseRepeatedOptions(program)
  return program
}

/**
 * Routes each command's output to `output`, and says what commander finds wrong with a command line (an
 * unknown command or option, a missing or invalid argument) in one line, `rxpg: <message> (see rxpg <command>
 * --help)`, like every other failure, so a script can read stderr the same way whatever failed; the help it
 * names is the failing command's own.
 */
function sayUsageErrorsInOneLine(command: Command, output: CliOutput, path: readonly string[] = []): void {
  const names = [...path, command.name()]
  command.configureOutput({
    writeOut: output.out,
    writeErr: output.err,
    // Credentials hidden: commander quotes what it refuses, and that may be a connection string (`--ur=postgres://…`).
    // One line: commander puts its suggestion ("(Did you mean --url?)") on a line of its own.
    outputError: (text, write) =>
      write(`rxpg: ${redactCredentials(text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ').replace(/\.$/, ''))} (see ${names.join(' ')} --help)\n`),
  })
  for (const subcommand of command.commands) sayUsageErrorsInOneLine(subcommand, output, names)
}
