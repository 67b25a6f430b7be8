import pg from 'pg'
import type { PgConnectionConfig } from './config.js'
import { connectionStringProblem } from './connection-string-problem.js'

/** What may be said about a connection target, and how to scrub what may not. */
export interface Secrets {
  /** Host, port, database and user: safe to show in errors. */
  readonly target: { readonly host?: string | undefined; readonly port?: number | undefined; readonly database?: string | undefined; readonly user?: string | undefined }
  /**
   * Removes passwords and connection-string credentials from a message, for what is shown or kept. Only for
   * that: a verdict on an error is made on its own message, which a password that is also one of its words
   * (`SSL`, a role's name) would change once hidden.
   */
  redact(message: string): string
  /** Why the connection string could not be parsed (pg's ERR_INVALID_URL), naming the part when it can: safe to show. */
  unparsable(): string
}

/**
 * A URL's credentials, `scheme://user:password@`. Up to the last @ before a space, as the URL parser takes the
 * last @ of the authority: a password may hold an unescaped @ (`app:p@ss@host`), and one with an unescaped /
 * (which pg cannot parse) is still hidden. An @ further on (in the query) hides more than the password: safe.
 */
const credentialsInUrl = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)\S*@/gi

/**
 * A password as a config dump or a connection string holds it, whatever it is (also one that is the user's
 * name, or not known here): `password=…` (keyword/value strings, `?password=` in a URL), `password: '…'`
 * (util.inspect), `"password":"…"` (JSON).
 */
const passwordValues = /(password|passwd|pwd)(["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&,;}'"]+)/gi

/** A letter, a digit or _: a password next to one is part of a longer word, not the password. */
const wordCharacter = '[\\p{L}\\p{N}_]'

/** Hides the credentials a text holds in a connection string or a `password=` pair, whatever they are. */
export function redactCredentials(text: string): string {
  return text
    .replace(credentialsInUrl, '$1***@')
    .replace(passwordValues, (_, key: string, separator: string, value: string) => `${key}${separator}${/^["']/.test(value) ? `${value[0]}***${value[0]}` : '***'}`)
}

export function secretsOf(config: PgConnectionConfig | undefined): Secrets {
  const clientConfig: pg.ClientConfig = typeof config === 'string' ? { connectionString: config } : (config ?? {})
  const fromUrl = clientConfig.connectionString ? safeParse(clientConfig.connectionString) : {}
  const merged: pg.ClientConfig = { ...fromUrl, ...clientConfig }
  const target = {
    ...(typeof merged.host === 'string' ? { host: merged.host } : {}),
    ...(merged.port !== undefined && merged.port !== null ? { port: Number(merged.port) } : {}),
    ...(typeof merged.database === 'string' ? { database: merged.database } : {}),
    ...(typeof merged.user === 'string' ? { user: merged.user } : {}),
  }
  // A password that is also the user, the database or the host is shown in the error's info anyway: hiding
  // it in the text protects nothing, and hides what the user must check ("for user "***"").
  const shown = new Set([target.user, target.database, target.host])
  const passwords = [...new Set([...(fromUrl.passwords ?? []), typeof clientConfig.password === 'string' ? clientConfig.password : undefined])]
    .filter((p): p is string => typeof p === 'string' && p.length > 0 && !shown.has(p))
    // The longest first: one that holds another is hidden whole, not around the other's ***.
    .sort((a, b) => b.length - a.length)
    .map((password) => new RegExp(`(?<!${wordCharacter})${escapeRegExp(password)}(?!${wordCharacter})`, 'gu'))
  return {
    target,
    redact(message) {
      // A password only as a whole token: replaced everywhere, 'p' made "support" read "su***ort".
      return passwords.reduce((safe, password) => safe.replace(password, '***'), redactCredentials(message))
    },
    unparsable: () => connectionStringProblem(clientConfig.connectionString),
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The URL's parts as pg takes them, and every password it holds (as written and decoded, in the URL and in its query). */
function safeParse(connectionString: string): pg.ClientConfig & { passwords?: readonly string[] | undefined } {
  let url: URL
  try {
    url = new URL(connectionString)
  } catch {
    return {}
  }
  // pg takes ?user= and ?password= before the URL's own.
  const user = url.searchParams.get('user') ?? (url.username ? decoded(url.username) : undefined)
  const passwords = [url.searchParams.get('password') ?? '', url.password ? decoded(url.password) : '', url.password].filter((p) => p !== '')
  return {
    ...(url.hostname ? { host: decoded(url.hostname) } : {}),
    ...(url.port ? { port: Number(url.port) } : {}),
    ...(url.pathname.length > 1 ? { database: decoded(url.pathname.slice(1)) } : {}),
    ...(user ? { user } : {}),
    ...(passwords.length > 0 ? { password: passwords[0], passwords } : {}),
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
