import type pg from 'pg'
import { describeValue } from '../errors.js'

/** A `pg` connection string or `pg.ClientConfig`: what `createPgListener` accepts. */
export type PgConnectionConfig = string | pg.ClientConfig

/**
 * Refuses a connection that is none: `undefined` (an unset `process.env.DATABASE_URL!`), null, an empty string, or
 * anything but a string or an object. pg took them for its defaults (localhost:5432, or PG* variables), so a
 * forgotten variable looked like a server that was down, retried for ever.
 * @throws TypeError saying what was given and what to pass.
 */
export function assertConnectionConfig(prefix: string, call: string, config: unknown): asserts config is PgConnectionConfig {
  if ((typeof config === 'string' && config !== '') || (typeof config === 'object' && config !== null && !Array.isArray(config))) return
  const given = config === undefined ? 'undefined' : config === null ? 'null' : config === '' ? 'an empty string' : describeValue(config)
  throw new TypeError(
    `${prefix}: ${call}'s first argument is the connection: a connection string or a pg config object; got ${given} (is DATABASE_URL set?). To connect with the PG* environment variables alone, pass {}`,
  )
}

/** What each connection rxpg opens is for; `rxpg <purpose>` is its name in pg_stat_activity (application_name). */
export type ConnectionPurpose = 'listener' | 'notify' | 'durable' | 'durable leases' | 'replication' | 'replication catalog' | 'cli'

/**
 * The `pg.ClientConfig` for a connection of rxpg's own. TCP keep-alive is on unless the config says
 * otherwise, so the kernel also helps to find dead peers. Named `rxpg <purpose>` in pg_stat_activity, so an
 * operator can tell rxpg's connections apart (a stalled consumer batch, the listener), unless the application
 * names its connections: in the config (which wins here), the connection string (which wins in pg), or PGAPPNAME
 * (which pg reads when the config has no name).
 */
export function clientConfigOf(config: PgConnectionConfig, purpose: ConnectionPurpose): pg.ClientConfig {
  return { keepAlive: true, ...namedFor(purpose), ...(typeof config === 'string' ? { connectionString: config } : config) }
}

/** `{ application_name: 'rxpg <purpose>' }`, or nothing when PGAPPNAME names the process's connections. */
export function namedFor(purpose: ConnectionPurpose): { readonly application_name?: string | undefined } {
  return process.env.PGAPPNAME === undefined ? { application_name: `rxpg ${purpose}` } : {}
}
