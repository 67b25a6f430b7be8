// The statements rxpg runs at READ COMMITTED whatever default_transaction_isolation says are sent as one simple
// query with their values written in: what each value becomes, and what is left alone.
import { describe, expect, it } from 'vitest'
import { queriesFor } from '../../lib/durable/queries.js'
import { readCommittedStatement } from '../../lib/durable/read-committed.js'

const PREFIX = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\n'

describe('readCommittedStatement', () => {
  it('puts the level first and each parameter as an untyped, quoted literal (numbers too), NULL for null', () => {
    expect(readCommittedStatement('SELECT $1, $2::int, $3 * interval \'1 millisecond\', $4, $5', ['a', 7, 10_000, null, undefined])).toBe(
      `${PREFIX}SELECT 'a', '7'::int, '10000' * interval '1 millisecond', NULL, NULL`,
    )
    // A negative number stays one literal: `x - $1` must not become the comment `x --1`.
    expect(readCommittedStatement('SELECT 2 -$1', [-1])).toBe(`${PREFIX}SELECT 2 -'-1'`)
    expect(readCommittedStatement('SELECT $1, $2', [12345678901234567890n, true])).toBe(`${PREFIX}SELECT '12345678901234567890', 'true'`)
  })

  it('doubles quotes, and writes a text with a backslash as an E literal, right whatever standard_conforming_strings says', () => {
    expect(readCommittedStatement('SELECT $1', ["it's"])).toBe(`${PREFIX}SELECT 'it''s'`)
    expect(readCommittedStatement('SELECT $1', ["a\\'b"])).toBe(`${PREFIX}SELECT  E'a\\\\''b'`)
  })

  it('writes an array as the text of an array literal: numbers bare, texts double-quoted, null as NULL', () => {
    expect(readCommittedStatement('SELECT $1::int[], $2::bigint[], $3::text[]', [[1, 2], ['10', null], ['a"b', 'c\\d', "e'f"]])).toBe(
      `${PREFIX}SELECT '{1,2}'::int[], '{"10",NULL}'::bigint[],  E'{"a\\\\"b","c\\\\\\\\d","e''f"}'::text[]`,
    )
    expect(readCommittedStatement('SELECT $1::int[]', [[]])).toBe(`${PREFIX}SELECT '{}'::int[]`)
  })

  it('leaves quoted identifiers and string literals of the statement alone (a schema may be named "$1")', () => {
    expect(readCommittedStatement(`SELECT $1 FROM "s$1""x".t WHERE c = '$2' AND d = $2`, ['one', 'two'])).toBe(`${PREFIX}SELECT 'one' FROM "s$1""x".t WHERE c = '$2' AND d = 'two'`)
    expect(readCommittedStatement('SELECT $10, $1', Array.from({ length: 10 }, (_, index) => index + 1))).toBe(`${PREFIX}SELECT '10', '1'`)
  })

  it("leaves comments alone, an apostrophe in one included (it opened a string to the next quote)", () => {
    expect(readCommittedStatement("SELECT $1 -- the member's lease\n, $2 /* it's */ , $3", ['a', 'b', 'c'])).toBe(
      "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\nSELECT 'a' -- the member's lease\n, 'b' /* it's */ , 'c'",
    )
  })

  it('every statement the log sends this way has all its parameters written in', () => {
    const queries = queriesFor('rxpg') as unknown as Record<string, string>
    for (const name of ['moveGroup', 'meta', 'channelPartitions', 'maintain', 'joinGroup', 'heartbeat', 'renewLeases', 'forgetDeadMembers', 'releaseLeases', 'acquireLeases', 'leaveGroup', 'heldLeases']) {
      expect(readCommittedStatement(queries[name] as string, Array.from({ length: 12 }, (_, index) => index)), name).not.toMatch(/\$\d/)
    }
  })

  it('refuses a NUL, which would end the query string (PostgreSQL text cannot hold one), and a value of no literal', () => {
    expect(() => readCommittedStatement('SELECT $1', ['a\0b'])).toThrow(RangeError)
    expect(() => readCommittedStatement('SELECT $1', [{ a: 1 }])).toThrow(TypeError)
  })
})
