// How a failure to connect is classified (give up and say why, or retry), and what its message says. The
// verdict is the server's or the driver's, never the password's: redaction is for what is shown, and runs after.
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { ConnectionLostError, ConnectionRejectedError } from '../../lib/errors.js'
import { createPgListener } from '../../lib/index.js'
import { classifyConnectionError } from '../../lib/pg/classify-error.js'
import { secretsOf } from '../../lib/pg/secrets.js'

const serverError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' })
const verdict = (error: unknown, password: string) => {
  const classified = classifyConnectionError(error, secretsOf(`postgres://u:${encodeURIComponent(password)}@localhost:5432/db`))
  return { class: classified.name, ...classified.info }
}

describe('classifying a connection failure', () => {
  // Each with the verdict it must get whatever the password: with password 'p', "does not support SSL" read
  // "su******ort" and the listener retried for ever; with 'pw' it failed at once.
  const failures: [string, unknown, { class: string; reason?: string }][] = [
    ['a server without SSL', new Error('The server does not support SSL connections'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    ['a self-signed certificate', new Error('self-signed certificate'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    // As Node's TLS reports them: with OpenSSL's verification code as the error's code.
    ...(
      [
        ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
        ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'],
        ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
        ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate'],
        ['CERT_HAS_EXPIRED', 'certificate has expired'],
        ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"],
      ] as const
    ).map(([code, message]): [string, unknown, { class: string; reason?: string }] => [
      `a certificate refused by TLS (${code})`,
      Object.assign(new Error(message), { code }),
      { class: 'ConnectionRejectedError', reason: 'configuration' },
    ]),
    ['SCRAM without a password', new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    ['a missing role', serverError('28000', 'role "u" does not exist'), { class: 'ConnectionRejectedError', reason: 'role-missing' }],
    ['a setting the server does not know', serverError('42704', 'unrecognized configuration parameter "idle_session_timeout"'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    ['a value the server cannot take', serverError('22023', 'invalid value for parameter "statement_timeout": "x"'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    ['a setting that cannot be set at connection start', serverError('55P02', 'parameter "wal_level" cannot be changed now'), { class: 'ConnectionRejectedError', reason: 'configuration' }],
    ['a socket closed under it', new Error('Connection terminated unexpectedly'), { class: 'ConnectionLostError' }],
  ]

  it.each(failures)('gives %s the same verdict whatever the password', (_, error, expected) => {
    const message = (error as Error).message
    // Passwords that are a letter, a part or a word of the message, and one that is none of these.
    const passwords = ['a-long-password-in-no-message', ...new Set([...message.replace(/[^A-Za-z]/g, '')]), ...message.split(/[^A-Za-z_]+/).filter(Boolean), 'pp', 'upp', 'SSL']
    for (const password of passwords) {
      expect(verdict(error, password), `password ${JSON.stringify(password)}`).toMatchObject(expected)
    }
  })

  it('says what the server said, unredacted where the password is part of a longer word', () => {
    const classified = classifyConnectionError(new Error('The server does not support SSL connections'), secretsOf('postgres://u:p@localhost/db?ssl=true'))
    expect(classified).toBeInstanceOf(ConnectionRejectedError)
    expect(classified.message).toBe('PostgreSQL refused the connection (configuration): The server does not support SSL connections. Retrying cannot fix this: fix the connection configuration.')
    const wrongPassword = classifyConnectionError(serverError('28P01', 'password authentication failed for user "app"'), secretsOf('postgres://app:a@localhost/postgres'))
    expect(wrongPassword.info.detail).toBe('password authentication failed for user "app"')
  })

  it('still hides the password where the message holds it as a whole', () => {
    const classified = classifyConnectionError(new Error('cannot use postgres://u:hunter2@localhost/db: hunter2 was refused'), secretsOf('postgres://u:hunter2@localhost/db'))
    expect(classified).toBeInstanceOf(ConnectionLostError)
    expect(classified.message).not.toContain('hunter2')
    expect(JSON.stringify(classified.info)).not.toContain('hunter2')
    expect((classified.cause as Error).message).not.toContain('hunter2')
  })
})

// A connection string pg cannot parse: nothing was asked of PostgreSQL, so nothing was refused by it.
describe('a connection string that cannot be parsed', () => {
  const unparsable: [string, string][] = [
    ['postgres://app:s3cret-pw@localhost:99999/app', 'the port "99999" is out of range (0 to 65535)'],
    ['postgres://app:s3cret-pw@localhost:5432x/app', 'the port "5432x" is not a number'],
    ['postgres://app:s3cret-pw@[::1/app', 'the host "[::1" has no closing ]'],
    ['postgresql://[::1]:99999/app', 'the port "99999" is out of range (0 to 65535)'],
    ['postgres://app:s3cret-pw@:5432/app', 'it has a port but no host'],
    ['postgres://app:s3cret-pw@ho<st/app', 'the host "ho<st" holds a character a host name cannot have'],
    // The authority ends at the first /: what follows is not a host, and may be the rest of the password.
    ['postgres://app:s3cret/pw@localhost/app', 'a / ? or # in the user name or password must be percent-encoded (%2F %3F %23)'],
    // An @ further on: what reads as the port ("pw") may be part of the password, and is not quoted.
    ['postgres://app:s3cret@x:pw/more@localhost/app', 'the port is not a number'],
  ]

  it.each(unparsable)('says that %s could not be parsed, and why, without the password', (url, why) => {
    const error = (() => {
      try {
        new pg.Client(url)
      } catch (thrown) {
        return thrown
      }
      throw new Error(`pg parsed ${url}`)
    })()
    const classified = classifyConnectionError(error, secretsOf(url))
    expect(classified).toBeInstanceOf(ConnectionRejectedError)
    expect(classified.info).toMatchObject({ reason: 'configuration', systemCode: 'ERR_INVALID_URL', detail: `the connection string could not be parsed: ${why}` })
    expect(classified.message).toBe(`Cannot connect to PostgreSQL (configuration): the connection string could not be parsed: ${why}. Retrying cannot fix this: fix the connection configuration.`)
    expect(classified.message).not.toMatch(/refused/)
    expect(`${classified.message} ${JSON.stringify(classified.info)}`).not.toMatch(/s3cret|pw@/)
  })

  it('fails the listener with that message, at once', async () => {
    const db = createPgListener('postgres://app:s3cret-pw@localhost:99999/app')
    db.channel('x').subscribe({ error: () => undefined })
    const failed = await new Promise<ConnectionRejectedError>((resolve) =>
      db.state$.subscribe((state) => state.status === 'failed' && resolve(state.error as ConnectionRejectedError)),
    )
    await db.close()
    expect(failed.message).toBe(
      'Cannot connect to PostgreSQL (configuration): the connection string could not be parsed: the port "99999" is out of range (0 to 65535). Retrying cannot fix this: fix the connection configuration.',
    )
  })
})
