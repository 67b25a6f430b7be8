// Which failures of the replication connection the stream retries, and which stop it with a typed error.
import { describe, expect, it } from 'vitest'
import { ConnectionLostError } from '../../lib/errors.js'
import { ReplicationSetupError, SlotInUseError } from '../../lib/replication/errors.js'
import { classifyReplicationError } from '../../lib/replication/pg/classify-replication-error.js'
import { secretsOf } from '../../lib/pg/secrets.js'

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' })
const names = { slot: 'orders_slot', publication: 'orders_pub' }
const classify = (error: unknown) => classifyReplicationError(error, secretsOf({ connectionString: 'postgres://app:secret@db/app' }), names)

describe('replication failure classes', () => {
  it.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P03', 'the database system is starting up'],
    ['53300', 'sorry, too many clients already'],
  ])('retries a session the server ended or could not take (SQLSTATE %s)', (code, message) => {
    expect(classify(pgError(code, message))).toBeInstanceOf(ConnectionLostError)
  })

  // A replication command the server reads as SQL: the connection is not a replication connection (a proxy
  // dropped the `replication` startup parameter), or the command is one this server does not have. Every
  // connection gets the same answer, so a retry loops for ever.
  it.each([
    ['42601', 'syntax error at or near "IDENTIFY_SYSTEM"'],
    ['42601', 'syntax error at or near "START_REPLICATION"'],
    ['0A000', 'logical replication protocol version 4 is not supported'],
  ])('stops on a replication command the server refuses (SQLSTATE %s) with what to do', (code, message) => {
    const failure = classify(pgError(code, message))
    expect(failure).toBeInstanceOf(ReplicationSetupError)
    const setup = failure as ReplicationSetupError
    expect(setup.info).toMatchObject({ reason: 'command-refused', sqlState: code, detail: message, ...names })
    expect(setup.message).toContain(message)
    expect(setup.message).toMatch(/directly/)
    expect(setup.cause).toBeInstanceOf(Error)
  })

  // The verdict (and what it reads from the message) is the server's: a password that is also a word or a
  // number of the message is hidden in what is shown, not in what is decided on.
  it('reads the same verdict and facts from a message whatever the password', () => {
    const inUse = pgError('55006', 'replication slot "orders_slot" is active for PID 4242')
    const withPassword = (password: string) => classifyReplicationError(inUse, secretsOf({ connectionString: `postgres://app:${password}@db/app` }), names)
    for (const password of ['secret', '4242', 'slot', 'active', 'PID', 'e']) {
      const failure = withPassword(password)
      expect(failure, password).toBeInstanceOf(SlotInUseError)
      expect((failure as SlotInUseError).info.activePid, password).toBe(4242)
    }
    const wal = (password: string) => classifyReplicationError(pgError('55000', 'logical decoding requires wal_level >= logical'), secretsOf(`postgres://app:${password}@db/app`), names)
    expect(wal('wal_level').info).toMatchObject({ reason: 'wal-level' })
  })
})
