import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { createProgram } from '../../lib/cli/program.js'
import { durableSchemaSql } from '../../lib/durable/index.js'
import packageJson from '../../package.json' with { type: 'json' }

function run(...args: string[]): { out: string; err: string; exitCode: number } {
  let out = ''
  let err = ''
  const program = createProgram({
    out: (text) => {
      out += text
    },
    err: (text) => (err += text),
  })
  try {
    program.parse(['node', 'rxpg', ...args])
    return { out, err, exitCode: 0 }
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error
    return { out, err, exitCode: error.exitCode }
  }
}

describe('rxpg CLI', () => {
  it('prints the durable schema SQL, for the default schema and a named one', () => {
    expect(run('sql', 'durable').out).toBe(durableSchemaSql())
    const named = run('sql', 'durable', '--schema', 'My "odd" schema')
    expect(named.out).toBe(durableSchemaSql({ schema: 'My "odd" schema' }))
    expect(named.out).toContain('CREATE SCHEMA IF NOT EXISTS "My ""odd"" schema";')
  })

  it('prints its version with --version', () => {
    expect(run('--version')).toEqual({ out: `${packageJson.version}\n`, err: '', exitCode: 0 })
  })

  it('lists its commands in --help, and fails with usage for an unknown one', () => {
    const help = run('--help')
    expect(help.exitCode).toBe(0)
    expect(help.out).toContain('sql')
    expect(run('sql', '--help').out).toContain('durable')
    const unknown = run('sql', 'nope')
    expect(unknown.exitCode).not.toBe(0)
    expect(unknown.err).toContain("unknown command 'nope'")
  })

  it('says what was wrong with a command line in one line, rxpg: <message>, as every other failure', () => {
    for (const args of [
      ['frobnicate'],
      ['sql', 'nope'],
      ['sql', 'changes', '--key', 'id'],
      ['notify', 'orders', 'x', '--timeout', '0'],
      ['listen', '--nope', 'orders'],
      ['notify'],
    ]) {
      const { err, exitCode } = run(...args)
      expect(exitCode, args.join(' ')).not.toBe(0)
      expect(err, args.join(' ')).toMatch(/^rxpg: [^\n]+ \(see rxpg [a-z ]*--help\)\n$/)
    }
    expect(run('sql', 'changes', '--key', 'id').err).toBe("rxpg: required option '--table <table>' not specified (see rxpg sql changes --help)\n")
  })
})
