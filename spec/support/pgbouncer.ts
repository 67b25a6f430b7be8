/**
 * A real PgBouncer in front of the run's PostgreSQL, on a free loopback port, in the pool mode asked for.
 * Needs the `pgbouncer` binary (Debian: `apt-get install pgbouncer`; .ci/run installs it). PgBouncer refuses
 * to run as root, so as root it runs as `nobody`, with its files owned by that user.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../../support/embedded-server.js'

const execFileAsync = promisify(execFile)

/** Bounds on waiting for the process: generous, they only keep a broken start or stop from hanging. */
const READY_LIMIT_MS = 15_000
const STOP_LIMIT_MS = 10_000
const LOG_LINES_KEPT = 50

/** The pgbouncer executable: on PATH or in the sbin directories Debian uses; undefined when absent. */
export function pgbouncerBinary(): string | undefined {
  const directories = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const directory of directories.filter(Boolean)) {
    const candidate = join(directory, 'pgbouncer')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

export interface PgBouncer {
  readonly port: number
  /** A connection string to the same database and user, through PgBouncer. */
  readonly url: string
  /** The last lines PgBouncer logged, for failure messages. */
  logs(): string
  stop(): Promise<void>
}

/**
 * Starts PgBouncer in front of the server of `serverUrl` (host, port, database, user and password are taken
 * from it). Clients authenticate with the same password (md5) against a userlist of that one user.
 */
/** `poolSize`: server connections per database and user (PgBouncer's default_pool_size). */
export async function startPgBouncer(serverUrl: string, poolMode: 'session' | 'transaction', poolSize = 10): Promise<PgBouncer> {
  const binary = pgbouncerBinary()
  if (binary === undefined) throw new Error('pgbouncer is not installed (apt-get install pgbouncer)')
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username)
  const password = decodeURIComponent(server.password)
  const database = decodeURIComponent(server.pathname.slice(1)) || 'postgres'
  const port = await freePort()
  const directory = await mkdtemp(join(tmpdir(), 'rxpg-pgbouncer-'))
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`
  const config = join(directory, 'pgbouncer.ini')
  await writeFile(join(directory, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`, { mode: 0o600 })
  await writeFile(
    config,
    [
      '[databases]',
      `${database} = host=${server.hostname} port=${server.port || 5432} dbname=${database}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = md5',
      `auth_file = ${join(directory, 'userlist.txt')}`,
      `pool_mode = ${poolMode}`,
      'max_client_conn = 50',
      `default_pool_size = ${poolSize}`,
      'ignore_startup_parameters = extra_float_digits,options',
      'server_login_retry = 1',
      '',
    ].join('\n'),
    { mode: 0o600 },
  )
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const runAs = isRoot ? await nobody() : undefined
  if (runAs) {
    for (const file of [directory, config, join(directory, 'userlist.txt')]) await chown(file, runAs.uid, runAs.gid)
  }

  const logs: string[] = []
  const child: ChildProcess = spawn(binary, [config], { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = (chunk: Buffer) => {
    logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    logs.splice(0, Math.max(0, logs.length - LOG_LINES_KEPT))
  }
  child.stdout?.on('data', log)
  child.stderr?.on('data', log)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const killOnExit = () => void child.kill('SIGKILL')
  process.on('exit', killOnExit)

  const stop = async () => {
    process.off('exit', killOnExit)
    if (child.exitCode === null && child.signalCode === null) {
      // SIGTERM is PgBouncer's immediate shutdown.
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_LIMIT_MS)
      await exited
      clearTimeout(killer)
    }
    await rm(directory, { recursive: true, force: true })
  }

  try {
    await waitUntilListening(port, () => child.exitCode !== null || child.signalCode !== null)
  } catch (error) {
    await stop()
    throw new Error(`PgBouncer did not start: ${String(error)}\n${logs.join('\n')}`, { cause: error })
  }

  const through = new URL(serverUrl)
  through.hostname = '127.0.0.1'
  through.port = String(port)
  return { port, url: through.toString(), logs: () => logs.join('\n'), stop }
}

async function waitUntilListening(port: number, hasExited: () => boolean): Promise<void> {
  const start = Date.now()
  for (;;) {
    if (hasExited()) throw new Error('the process exited')
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() - start > READY_LIMIT_MS) throw new Error(`nothing listening on port ${port} within ${READY_LIMIT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function nobody(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', 'nobody']), execFileAsync('id', ['-g', 'nobody'])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}
