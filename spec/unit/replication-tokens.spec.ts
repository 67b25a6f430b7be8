import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidReplicationTokenError } from '../../lib/replication/index.js'
import { formatLsn, parseLsn } from '../../lib/replication/lsn.js'
import { comparePositions, decodeToken, encodeToken, slotTag, type Position } from '../../lib/replication/position.js'

const lsn = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const position = fc.oneof(
  fc.tuple(lsn, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.bigInt({ min: 0n, max: 2n ** 20n })).map(([at, index, extra]) => ({
    lsn: at,
    index,
    resume: at + extra > 2n ** 64n - 1n ? at : at + extra,
  })),
  lsn.map((at) => ({ lsn: at, index: -1, resume: at })),
)

describe('replication tokens', () => {
  const tag = slotTag('7000000000000000000', 'app', 'orders_feed')

  it('carry a position and its slot tag, and read back exactly', () =>
    fc.assert(
      fc.property(position, (at: Position) => {
        expect(decodeToken(encodeToken(tag, at))).toEqual({ tag, position: at })
      }),
    ))

  it('tag a slot by server, database and name', () => {
    expect(slotTag('7000000000000000000', 'app', 'orders_feed')).toBe(tag)
    expect(slotTag('7000000000000000001', 'app', 'orders_feed')).not.toBe(tag)
    expect(slotTag('7000000000000000000', 'other', 'orders_feed')).not.toBe(tag)
    expect(slotTag('7000000000000000000', 'app', 'other_feed')).not.toBe(tag)
  })

  it('order positions by LSN, then index, a checkpoint before a transaction committed at its LSN', () => {
    const checkpoint = { lsn: 100n, index: -1, resume: 100n }
    const first = { lsn: 100n, index: 0, resume: 100n }
    const later = { lsn: 100n, index: 7, resume: 180n }
    const next = { lsn: 200n, index: 0, resume: 200n }
    expect([next, later, first, checkpoint].sort(comparePositions)).toEqual([checkpoint, first, later, next])
  })

  it.each([
    ['not a string', 42],
    ['another format', 'rxd1.abc.0.1.2'],
    ['a wrong tag', 'rxr1.xyz.0000000000000001.0.0000000000000001'],
    ['a short LSN', 'rxr1.a377d3b7.1.0.0000000000000001'],
    ['a bad index', 'rxr1.a377d3b7.0000000000000001.-1.0000000000000001'],
    ['a resume point before its transaction', 'rxr1.a377d3b7.0000000000000002.0.0000000000000001'],
    ['a checkpoint resuming elsewhere', 'rxr1.a377d3b7.0000000000000001.c.0000000000000002'],
  ])('refuses %s as malformed', (_what, token) => {
    expect(() => decodeToken(token)).toThrow(InvalidReplicationTokenError)
    try {
      decodeToken(token)
    } catch (error) {
      expect((error as InvalidReplicationTokenError).info.reason).toBe('malformed')
    }
  })

  it('read and write LSNs as PostgreSQL prints them', () =>
    fc.assert(
      fc.property(lsn, (at) => {
        expect(parseLsn(formatLsn(at))).toBe(at)
      }),
    ))
})
