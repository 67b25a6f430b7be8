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
