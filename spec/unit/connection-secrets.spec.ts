// What the listener may say about its connection string: never its password, whatever the string holds.
import { describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { secretsOf } from '../../lib/pg/secrets.js'

describe('connection secrets', () => {
  it('takes a connection string with a malformed %-escape as pg does (it threw URIError from createPgListener), and still hides its password', async () => {
    const url = 'postgres://app:pw%zz-secret@127.0.0.1:1/db'
    const db = createPgListener(url)
    await db.close()
    const secrets = secretsOf(url)
    expect(secrets.target).toEqual({ host: '127.0.0.1', port: 1, database: 'db', user: 'app' })
    expect(secrets.redact(`failed for ${url} with password pw%zz-secret`)).not.toContain('secret')
  })
})

// Redaction hides the password; it must not garble the rest of the message. A short password ('p', 'a') is
// part of many words: replaced everywhere, "support" read "su***ort" and "authentication" "***uthentic***tion".
describe('redacting a message', () => {
  const redact = (config: Parameters<typeof secretsOf>[0], message: string) => secretsOf(config).redact(message)

  it('leaves a password that is part of a longer word alone', () => {
    expect(redact('postgres://u:p@localhost/db', 'The server does not support SSL connections')).toBe('The server does not support SSL connections')
    expect(redact('postgres://app:a@localhost/postgres', 'password authentication failed for user "app"')).toBe('password authentication failed for user "app"')
    expect(redact({ user: 'app', password: 'on' }, 'connection timeout expired')).toBe('connection timeout expired')
  })

  it('hides a password where it stands as a whole token', () => {
    expect(redact('postgres://u:p@localhost/db', 'the password is p.')).toBe('the password is ***.')
    expect(redact({ user: 'app', password: 'S3cret!' }, 'got "S3cret!" (a string)')).toBe('got "***" (a string)')
    expect(redact({ password: 'hunter2' }, 'hunter2 hunter2x xhunter2 hunter2')).toBe('*** hunter2x xhunter2 ***')
  })

  it('shows a password that is also the user, the database or the host: it is in the error\'s info anyway, and hiding it hides what to check', () => {
    expect(redact('postgres://postgres:postgres@localhost:5432/postgres', 'password authentication failed for user "postgres"')).toBe(
      'password authentication failed for user "postgres"',
    )
    expect(redact('postgres://app:orders@localhost/orders', 'database "orders" does not exist')).toBe('database "orders" does not exist')
    expect(redact({ host: 'db', user: 'app', password: 'db' }, 'getaddrinfo ENOTFOUND db')).toBe('getaddrinfo ENOTFOUND db')
  })

  it('still hides such a password, and any other, where a connection string or a config dump holds it', () => {
    for (const [config, message, hidden] of [
      ['postgres://postgres:postgres@localhost/postgres', 'cannot use postgres://postgres:postgres@localhost/postgres', 'cannot use postgres://postgres:***@localhost/postgres'],
      ['postgres://app:a@localhost/db', "connect to 'postgres://app:a@localhost/db' failed", "connect to 'postgres://app:***@localhost/db' failed"],
      [{ user: 'app', password: 'app' }, "{ user: 'app', password: 'app' }", "{ user: 'app', password: '***' }"],
      [{ user: 'app', password: 'app' }, '{"user":"app","password":"app"}', '{"user":"app","password":"***"}'],
      ['postgres://app@localhost/db?password=p', 'cannot use postgres://app@localhost/db?password=p&sslmode=require', 'cannot use postgres://app@localhost/db?password=***&sslmode=require'],
      [undefined, 'host=db user=app password=not-known dbname=app', 'host=db user=app password=*** dbname=app'],
      [undefined, 'PGPASSWORD=not-known psql', 'PGPASSWORD=*** psql'],
    ] as const) {
      expect(redact(config, message)).toBe(hidden)
    }
  })

  it('hides the whole password of a URL whose password holds an unescaped @ (the URL parser takes the last @ of the authority)', () => {
    const url = 'postgres://app:p@ss@localhost:5432/db'
    expect(redact(url, `cannot use ${url}`)).toBe('cannot use postgres://app:***@localhost:5432/db')
    expect(redact(url, 'p@ss')).toBe('***')
  })

  it('hides a password given in the query string (pg takes ?password=), wherever it stands as a token', () => {
    expect(redact('postgres://app@localhost/db?password=hunter2', 'server said hunter2')).toBe('server said ***')
  })
})
