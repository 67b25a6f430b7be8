#!/usr/bin/env node
// The `rxpg` binary (package.json "bin"). Every failure ends with a message on stderr and one of the exit
// codes of exit-codes.ts; a reader of stdout that goes away (`rxpg listen x | head -1`) ends it quietly.
import { CommanderError } from 'commander'
import { once } from 'node:events'
import { sayWarningsInOneLine } from './warnings.js'

// pg is an optional peer of rxpg (the browser client and the testing kit need none), so a project may lack it;
// every command needs it, and its absence is one line like every other failure, not a stack trace.
const loaded = await Promise.all([import('./exit-codes.js'), import('./program.js')]).catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && /'pg'/.test((error as Error).message)) {
    process.stderr.write('rxpg: the rxpg command needs the pg package, an optional peer dependency of rxpg: npm install pg\n')
    process.exit(1)
  }
  throw error
})
const [{ exitCodeOf }, { createProgram }] = loaded

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0)
  // A full disk, a file that cannot grow: one line like every other failure, not a stack trace.
  process.stderr.write(`rxpg: cannot write the output: ${error.message}\n`)
  process.exit(1)
})
sayWarningsInOneLine((line) => process.stderr.write(`${line}\n`))
const program = createProgram({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  drained: () => once(process.stdout, 'drain').then(() => undefined),
})
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
