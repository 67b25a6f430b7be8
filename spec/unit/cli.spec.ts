import { CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { exitCodeOf } from '../../lib/cli/exit-codes.js'
import { createProgram } from '../../lib/cli/program.js'
import { durableSchemaSql } from '../../lib/durable/index.js'
import packageJson from '../../package.json' with { type: 'json' }

/** The program, writing into `said.out` and `said.err`. */
function captured() {
  const said = { out: '', err: '' }
  const program = createProgram({
    out: (text) => {
      said.out += text
    },
    err: (text) => (said.err += text),
  })
  return { program, said }
}

function run(...args: string[]): { out: string; err: string; exitCode: number } {
  const { program, said } = captured()
  try {
    program.parse(['node', 'rxpg', ...args])
    return { ...said, exitCode: 0 }
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error
    return { ...said, exitCode: error.exitCode }
  }
}

/** Runs a command to its end, as main.ts does: its exit code, and what it said on stderr (main.ts's last line included). */
async function runAsync(...args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
  const { program, said } = captured()
  try {
    await program.parseAsync(['node', 'rxpg', ...args])
    return { ...said, exitCode: 0 }
  } catch (error) {
    if (!(error instanceof CommanderError)) said.err += `rxpg: ${(error as Error).message}\n`
    return { ...said, exitCode: exitCodeOf(error) }
  }
}

/** Every command that takes --url, with the arguments it needs. */
const urlCommands = [['notify', 'orders', 'hi'], ['listen', 'orders'], ['tail', 'orders'], ['changes', 'public.orders'], ['sql', 'changes', '--table', 'public.orders']]

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
      // commander suggests a near name on a line of its own
      ['listen', '--ur', 'postgres://localhost/x', 'orders'],
      ['lisen', 'orders'],
      ['notify'],
    ]) {
      const { err, exitCode } = run(...args)
      expect(exitCode, args.join(' ')).not.toBe(0)
      expect(err, args.join(' ')).toMatch(/^rxpg: [^\n]+ \(see rxpg [a-z ]*--help\)\n$/)
    }
    expect(run('sql', 'changes', '--key', 'id').err).toBe("rxpg: required option '--table <table>' not specified (see rxpg sql changes --help)\n")
  })

  // commander quotes the value of an option it refuses ("option '--url <url>' argument 'postgres://app:S3cretPW@…'
  // is invalid"): a --url given twice printed the password.
  it('never prints the password of a --url given twice, with any command, nor of a URL where it expects something else', async () => {
    const url = 'postgres://app:S3cretPW@db.example:5432/app'
    for (const command of urlCommands) {
      const twice = await runAsync(...command, '--url', url, '--url', url)
      expect({ exitCode: twice.exitCode, err: twice.err }, command.join(' ')).toEqual({ exitCode: 2, err: `rxpg: --url is given twice; give it once (see rxpg ${command[0] === 'sql' ? 'sql changes' : command[0]} --help)\n` })
      const other = await runAsync(...command, `--url=${url}`, '--url=postgres://app:OtherSecret@db2/app')
      expect({ exitCode: other.exitCode, err: other.err }, command.join(' ')).toMatchObject({ exitCode: 2, err: expect.stringContaining('--url is given twice') })
      expect(other.err).not.toMatch(/S3cretPW|OtherSecret/)
    }
    for (const args of [
      ['notify', 'x', 'y', `--ur=${url}`],
      ['notify', 'x', 'y', '--timeout', url],
    ]) {
      const { exitCode, err } = await runAsync(...args)
      expect(exitCode, args.join(' ')).toBe(2)
      expect(err, args.join(' ')).toContain('postgres://app:***@db.example:5432/app')
      expect(err, args.join(' ')).not.toContain('S3cretPW')
    }
  })

  // Node decodes a command's arguments as UTF-8, each byte that is not UTF-8 (a LATIN1 terminal's é) as U+FFFD, and
  // the bytes are gone: a name or payload would reach the server changed (`rxpg notify orders café` sent "caf\uFFFD").
  it('refuses U+FFFD in every argument and option value of every command, saying which and where, with 2, before anything is done', async () => {
    const bad = 'caf\uFFFD'
    const useUtf8 = 'Use UTF-8 in the terminal or script'
    const stdin = `${useUtf8}; to send U+FFFD itself, give the payload on stdin`
    const inSql = `${useUtf8}; to mean U+FFFD itself in the condition, write U&'\\FFFD'`
    // `--url ''` would be refused (2) once the arguments are checked: nothing connects.
    const none = ['--url', '']
    const cases: Array<[string[], string, number, string?]> = [
      [['notify', bad, 'x', ...none], 'the channel argument', 4],
      [['notify', 'x', bad, ...none], 'the payload argument', 4, stdin],
      [['notify', 'x', 'y', '--url', `postgres://u:${bad}@localhost/db`], '--url', 17],
      [['listen', bad, ...none], 'the channel argument', 4],
      [['listen', 'x', bad, ...none], 'the 2nd channel argument', 4],
      [['tail', bad, ...none], 'the channel argument', 4],
      [['tail', 'x', '--schema', bad, ...none], '--schema', 4],
      [['tail', 'x', '--from', `rxd1.${bad}`, ...none], '--from', 9],
      [['changes', bad, ...none], 'the table argument', 4],
      [['changes', 't', '--name', bad, ...none], '--name', 4],
      [['group', 'list', bad, ...none], 'the channel argument', 4],
      [['group', 'lag', 'x', bad, ...none], 'the group argument', 4],
      [['group', 'move', 'x', bad, '--to', 'now', ...none], 'the group argument', 4],
      [['group', 'move', 'x', 'g', '--to', bad, ...none], '--to', 4],
      [['sql', 'durable', '--schema', bad], '--schema', 4],
      [['sql', 'changes', '--table', bad, '--key', 'id'], '--table', 4],
      [['sql', 'changes', '--table', 't', '--key', `id,${bad}`], '--key', 7],
      [['sql', 'changes', '--table', 't', '--key', 'id', '--key', bad], 'the 2nd --key', 4],
      [['sql', 'changes', '--table', 't', '--key', 'id', '--columns', bad], '--columns', 4],
      [['sql', 'changes', '--table', 't', '--key', 'id', '--log-schema', bad], '--log-schema', 4],
      [['sql', 'changes', '--table', 't', '--key', 'id', '--when', `NEW.city = '${bad}'`], '--when', 16, inSql],
      [['sql', 'changes', '--table', 't', '--key', 'id', '--when-update', `NEW.city = '${bad}'`], '--when-update', 16, inSql],
    ]
    for (const [args, what, at, fix = useUtf8] of cases) {
      const result = await runAsync(...args)
      expect({ out: result.out, err: result.err, exitCode: result.exitCode }, args.join(' ')).toEqual({
        out: '',
        err: `rxpg: ${what} holds U+FFFD (character ${at}), which is what a byte that is not UTF-8 becomes in a command's arguments (a terminal or script in another encoding, such as LATIN1): it would be used changed, so nothing was done. ${fix}\n`,
        exitCode: 2,
      })
    }
  })

  // Nothing was asked of PostgreSQL: "PostgreSQL refused the connection (configuration): Invalid URL" said otherwise.
  it('says that a --url it cannot parse could not be parsed, and where, with 2, from every command that connects', async () => {
    for (const [url, why] of [
      ['postgres://app:S3cretPW@localhost:99999/app', 'the port "99999" is out of range (0 to 65535)'],
      ['postgres://app:S3cretPW@localhost:5432x/app', 'the port "5432x" is not a number'],
      ['postgres://app:S3cretPW@[::1/app', 'the host "[::1" has no closing ]'],
    ] as const) {
      for (const command of urlCommands) {
        const { exitCode, err } = await runAsync(...command, '--url', url)
        expect({ exitCode, err }, `${command.join(' ')} ${url}`).toEqual({ exitCode: 2, err: expect.stringContaining(`the connection string could not be parsed: ${why}`) })
        expect(err, command.join(' ')).not.toMatch(/refused|S3cretPW|Invalid URL/)
        expect(err.trim().split('\n'), command.join(' ')).toHaveLength(1)
      }
    }
  })
})
