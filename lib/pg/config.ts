import type pg from 'pg'

/** A `pg` connection string or `pg.ClientConfig`: what `createPgListener` accepts. */
export type PgConnectionConfig = string | pg.ClientConfig

/**
 * The `pg.ClientConfig` for a connection of rxpg's own. TCP keep-alive is on unless the config says
 * otherwise, so the kernel also helps to find dead peers.
 */
export function clientConfigOf(config: PgConnectionConfig): pg.ClientConfig {
  return { keepAlive: true, ...(typeof config === 'string' ? { connectionString: config } : config) }
}
