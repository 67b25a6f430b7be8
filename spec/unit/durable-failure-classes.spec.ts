// Which failures the durable log retries: a connection the server ended is transient, whatever ended it.
import { describe, expect, it } from 'vitest'
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
