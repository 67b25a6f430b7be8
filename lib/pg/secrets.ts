import pg from 'pg'
import type { PgConnectionConfig } from './config.js'

/** What may be said about a connection target, and how to scrub what may not. */
export interface Secrets {
  /** Host, port, database and user: safe to show in errors. */
  readonly target: { readonly host?: string | undefined; readonly port?: number | undefined; readonly database?: string | undefined; readonly user?: string | undefined }
  /** Removes passwords and connection-string credentials from a message. */
  redact(message: string): string
}

const credentialsInUrl = /(\w+:\/\/[^:/@\s]*:)[^@\s]*@/g

export function secretsOf(config: PgConnectionConfig | undefined): Secrets {
  const clientConfig: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : (config ?? {})
  const fromUrl = clientConfig.connectionString ? safeParse(clientConfig.connectionString) : {}
  const merged: pg.ClientConfig = { ...fromUrl, ...clientConfig }
  const passwords = [fromUrl.password, fromUrl.rawPassword, typeof clientConfig.password === 'string' ? clientConfig.password : undefined]
    .filter((p): p is string => typeof p === 'string' && p.length > 0)
  const target = {
    ...(typeof merged.host === 'string' ? { host: merged.host } : {}),
    ...(merged.port !== undefined && merged.port !== null ? { port: Number(merged.port) } : {}),
    ...(typeof merged.database === 'string' ? { database: merged.database } : {}),
    ...(typeof merged.user === 'string' ? { user: merged.user } : {}),
  }
  return {
    target,
    redact(message) {
      let safe = message.replace(credentialsInUrl, '$1***@')
      for (const password of passwords) safe = safe.split(password).join('***')
      return safe
    },
  }
}

function safeParse(connectionString: string): pg.ClientConfig & { rawPassword?: string | undefined } {
  let url: URL
  try {
    url = new URL(connectionString)
  } catch {
    return {}
  }
  return {
    ...(url.password ? { rawPassword: url.password } : {}),
    ...(url.hostname ? { host: decoded(url.hostname) } : {}),
    ...(url.port ? { port: Number(url.port) } : {}),
    ...(url.pathname.length > 1 ? { database: decoded(url.pathname.slice(1)) } : {}),
    ...(url.username ? { user: decoded(url.username) } : {}),
    ...(url.password ? { password: decoded(url.password) } : {}),
  }
}

/** A URL part with its %-escapes decoded; as written when an escape is malformed (pg then refuses the string itself). */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}
