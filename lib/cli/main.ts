#!/usr/bin/env node
// The `rxpg` binary (package.json "bin"). Every failure ends with a message on stderr and one of the exit
// codes of exit-codes.ts; a reader of stdout that goes away (`rxpg listen x | head -1`) ends it quietly.
import { CommanderError } from 'commander'
import { exitCodeOf } from './exit-codes.js'
import { createProgram } from './program.js'
import { sayWarningsInOneLine } from './warnings.js'

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})
sayWarningsInOneLine((line) => process.stderr.write(`${line}\n`))
const program = createProgram({ out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
let code = 0
try {
  await program.parseAsync(process.argv)
} catch (error) {
  code = exitCodeOf(error)
  // commander has already said what was wrong with the command line.
  // One line, one prefix: some messages already start with it (the argument checks, "rxpg: …").
  if (!(error instanceof CommanderError)) process.stderr.write(`rxpg: ${(error instanceof Error ? error.message : String(error)).replace(/^rxpg: /, '')}\n`)
}
process.exitCode = code
// Everything was closed; should a socket or timer still hold the process, it must not keep a script waiting.
setTimeout(() => process.exit(code), 2000).unref()
