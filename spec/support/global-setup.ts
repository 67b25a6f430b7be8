import type { TestProject } from 'vitest/node'
import { startEmbeddedServer, type EmbeddedServer } from '../../examples/support/embedded-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

let server: EmbeddedServer | undefined

/** One PostgreSQL for the whole run: the one in DATABASE_URL, or an embedded one on a free port. */
export async function setup(project: TestProject): Promise<void> {
  const external = process.env.DATABASE_URL
  if (external) {
    project.provide('databaseUrl', external)
    return
  }
  server = await startEmbeddedServer()
  project.provide('databaseUrl', server.url)
}

export async function teardown(): Promise<void> {
  await server?.destroy()
}
