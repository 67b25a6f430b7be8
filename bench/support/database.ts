/** The PostgreSQL a bench run measures against: `DATABASE_URL`, or an embedded server started for the run. */
export interface BenchDatabase {
  readonly url: string
  /** Port of the embedded server; undefined for `DATABASE_URL`. */
  readonly embeddedPort?: number
  /** Stops the embedded server; does nothing for `DATABASE_URL`. */
  release(): Promise<void>
}

export async function benchDatabase(): Promise<BenchDatabase> {
  const url = process.env.DATABASE_URL
  if (url) return { url, release: async () => undefined }
  const { startEmbeddedServer } = await import('../../support/embedded-server.js')
  const server = await startEmbeddedServer()
  return { url: server.url, embeddedPort: server.port, release: () => server.destroy() }
}
