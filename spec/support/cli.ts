import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { eventually } from './database.js'

const root = join(import.meta.dirname, '..', '..')
/** The command as a user runs it, from source: `node --import tsx lib/cli/main.ts …`. */
const COMMAND = [process.execPath, '--import', 'tsx', join(root, 'lib', 'cli', 'main.ts')] as const
/** A bound on a command that should end by itself, not a timing assertion. */
const RUN_LIMIT_MS = 60_000

export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  readonly input?: string | Buffer
}

/** Runs `rxpg …` to its end, with `input` on stdin (stdin is a pipe: not a terminal); `nodeArgs` go to node before the command. */
export function rxpg(args: readonly string[], options: RunOptions & { readonly nodeArgs?: readonly string[] } = {}): Promise<Finished> {
  return finished(COMMAND[0], [...(options.nodeArgs ?? []), ...COMMAND.slice(1), ...args], options)
}

/**
 * Runs `rxpg …` as `rxpg` does, with each argument given as bytes, which need not be UTF-8 (a Buffer: what a
 * terminal or a script in LATIN1 passes). Node passes a string argument as UTF-8, so the command is run by
 * /bin/sh, which makes each argument with printf (no argument may end with a line break: `$(…)` removes it).
 */
export function rxpgWithBytes(args: ReadonlyArray<string | Buffer>, options: RunOptions = {}): Promise<Finished> {
  const quoted = (text: string) => `'${text.replaceAll("'", "'\\''")}'`
  const bytes = (arg: string | Buffer) => `"$(printf '${[...Buffer.from(arg)].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('')}')"`
  return finished('/bin/sh', ['-c', `exec ${COMMAND.map(quoted).join(' ')} ${args.map(bytes).join(' ')}`], options)
}

function finished(file: string, args: readonly string[], options: RunOptions): Promise<Finished> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: root, env: options.env ?? process.env, timeout: RUN_LIMIT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr })
    })
    child.stdin?.end(options.input ?? '')
  })
}

/** Runs `rxpg …` to its end with its stdout on file descriptor `stdout` (a file, /dev/full); stderr is returned. */
export function rxpgWritingTo(args: readonly string[], stdout: number, env: NodeJS.ProcessEnv = process.env): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(COMMAND[0], [...COMMAND.slice(1), ...args], { cwd: root, env, stdio: ['ignore', stdout, 'pipe'] })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS)
    child.once('exit', (code) => {
      clearTimeout(killer)
      resolve({ code, stdout: '', stderr })
    })
  })
}

/** A long-running `rxpg …` (listen, tail, changes): its output so far, and ways to wait for it and stop it. */
export interface Running {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** stdout's complete lines so far. */
  lines(): string[]
  /** Waits until `check` holds for the output (a bound on waiting, not a timing assertion). */
  until(check: (running: Running) => boolean, describe: string): Promise<void>
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Resolves with the exit code once it ended by itself. */
  ended(): Promise<number | null>
}

export function startRxpg(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Running {
  const child = spawn(COMMAND[0], [...COMMAND.slice(1), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS)
  void exited.then(() => clearTimeout(killer))
  const running: Running = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () => stdout.split('\n').slice(0, -1),
    until: (check, describe) => eventually(() => check(running) || child.exitCode !== null, () => `${describe}; stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-500)}`, 30_000).then(() => {
      if (!check(running)) throw new Error(`rxpg ended (${child.exitCode}) before: ${describe}; stderr: ${stderr}`)
    }),
    stop: (signal = 'SIGINT') => {
      child.kill(signal)
      return exited
    },
    ended: () => exited,
  }
  return running
}
