#!/usr/bin/env node
// The `rxpg` binary (package.json "bin"). Exits with commander's code for usage errors, 0 for --help.
import { CommanderError } from 'commander'
import { createProgram } from './program.js'

const program = createProgram({ out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) })
try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode
  else throw error
}
