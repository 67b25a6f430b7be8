import type { TestProject } from 'vitest/node'
import { startEmbeddedServer, type EmbeddedServer } from '../../support/embedded-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
    /** A server of its own for the durable-channel specs (see setup). */
    durableDatabaseUrl: string
  }
}

let server: EmbeddedServer | undefined
let durableServer: EmbeddedServer | undefined

/**
 * One PostgreSQL for the whole run: the one in DATABASE_URL, or an embedded one on a free port, of the major
 * version in RXPG_PG_VERSION when set (e.g. `RXPG_PG_VERSION=12 npx vitest run spec/integration`, the oldest supported).
 */
export async function setup(project: TestProject): Promise<void> {
  const external = process.env.DATABASE_URL
  if (external) {
    project.provide('databaseUrl', external)
    project.provide('durableDatabaseUrl', process.env.DURABLE_DATABASE_URL ?? external)
    return
  }
  // Durable channels read below the cluster-wide snapshot horizon, which any open transaction on the server
  // holds back (the listener specs' broken connections, for seconds): their specs get a server of their own.
  ;[server, durableServer] = await Promise.all([startEmbeddedServer(embeddedVersion()), startEmbeddedServer(embeddedVersion())])
  project.provide('databaseUrl', server.url)
  project.provide('durableDatabaseUrl', durableServer.url)
}

export async function teardown(): Promise<void> {
  await Promise.all([server?.destroy(), durableServer?.destroy()])
}

/** `{ version }` from RXPG_PG_VERSION, or `{}` for the default binaries. Specs that start a server of their own use it too. */
export function embeddedVersion(): { version?: number } {
  const value = process.env.RXPG_PG_VERSION
  if (value === undefined || value === '') return {}
  const version = Number(value)
  if (!Number.isInteger(version)) throw new Error(`RXPG_PG_VERSION must be a major version such as 12, not ${JSON.stringify(value)}`)
  return { version }
}
