// Which failures the durable log retries: a connection the server ended is transient, whatever ended it.
import { describe, expect, it } from 'vitest'
import { asyncScheduler } from 'rxjs'
import { createPgListener } from '../../lib/index.js'
import { UnsupportedServerError } from '../../lib/durable/index.js'
import { LogContext, resolveOptions } from '../../lib/durable/log-context.js'
import { failureInfo, isRefusal, isTransient } from '../../lib/durable/pg-failure.js'

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code })

describe('durable failure classes', () => {
  it.each([
    ['25P03', 'terminating connection due to idle-in-transaction timeout'],
    ['57P05', 'terminating connection due to idle-session timeout'],
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection due to crash of another server process'],
    ['57P03', 'the database system is starting up'],
    ['08006', 'connection failure'],
  ])('retries a session the server ended (SQLSTATE %s), and does not call it a refusal', (code, message) => {
    const info = failureInfo(pgError(code, message))
    expect(isTransient(info)).toBe(true)
    expect(isRefusal(info)).toBe(false)
  })

  it.each(['ECONNRESET', 'ECONNREFUSED'])('retries %s', (code) => {
    expect(isTransient(failureInfo(pgError(code, `connect ${code}`)))).toBe(true)
  })

  it('retries a socket closed under the driver (no code)', () => {
    expect(isTransient(failureInfo(new Error('Connection terminated unexpectedly')))).toBe(true)
  })

  it('hides the credentials of a connection string in a detail, a password holding an @ included', () => {
    const { detail } = failureInfo(new Error('could not reach postgres://app:p@ss@db.example:5432/app (password=s3cret, retrying)'))
    expect(detail).toBe('could not reach postgres://app:***@db.example:5432/app (password=***, retrying)')
  })

  it("retries a wait for a pool connection that pg-pool's connectionTimeoutMillis ended (every connection busy, or a slow connect)", () => {
    const info = failureInfo(new Error('timeout exceeded when trying to connect'))
    expect(isTransient(info)).toBe(true)
    expect(isRefusal(info)).toBe(false)
  })

  it("retries a statement pg's query_timeout gave up on (the pool discards its connection)", () => {
    const info = failureInfo(new Error('Query read timeout'))
    expect(isTransient(info)).toBe(true)
    expect(isRefusal(info)).toBe(false)
  })

  it.each([
    ['28P01', 'password authentication failed for user "x"'],
    ['23505', 'duplicate key value violates unique constraint'],
    ['42501', 'permission denied for table durable_log'],
  ])('does not retry SQLSTATE %s', (code, message) => {
    const info = failureInfo(pgError(code, message))
    expect(isTransient(info)).toBe(false)
    expect(isRefusal(info)).toBe(true)
  })
})

// ensureSchema on a server older than 12 rejected with a DurableQueryFailedError whose cause was the typed error
// and whose systemCode was rxpg's code: the documented UnsupportedServerError was reachable only as `cause`.
describe("a durable log's failures", () => {
  it('keeps rxpg errors already typed as they are, UnsupportedServerError included', async () => {
    const listener = createPgListener('postgres://nobody@127.0.0.1:1/none')
    const options = { listener, pool: 'postgres://nobody@127.0.0.1:1/none' }
    const context = new LogContext(options, resolveOptions(options), asyncScheduler, 'rxpg')
    const old = new UnsupportedServerError({ serverVersionNum: 110022, minimumVersionNum: 120000 })
    expect(context.failure('ensureSchema', old)).toBe(old)
    context.close()
    await context.pool.end()
    await listener.close()
  })
})
