/**
 * Hostile input against the real server, drawn by fast-check: channel names with quotes, spaces, SQL, astral
 * characters, NUL, lone surrogates and multi-byte characters straddling the 63-byte limit; payloads straddling
 * the 7999-byte limit, with NUL, lone surrogates, or empty.
 *
 * Every valid one must come back unchanged (same channel, same payload) through PostgreSQL; every invalid one
 * must be refused with its typed error and the facts in `info`, by `channel()` (names), `notify()` (a
 * rejection) and `notify$` (on `errors$`), and nothing of it may reach the server. The oracle below is written
 * from PostgreSQL's rules, independently of lib/identifiers.ts.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPgListener,
  InvalidChannelNameError,
  InvalidPayloadError,
  MAX_CHANNEL_NAME_BYTES,
  MAX_PAYLOAD_BYTES,
  PayloadTooLargeError,
  type PgListener,
  type PgNotification,
  type RxpgError,
} from '../../lib/index.js'
import { databaseUrl, eventually, uniqueName } from '../support/database.js'

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8')
/** A UTF-16 surrogate without its partner: not a character, cannot be sent as UTF-8 unchanged. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Every reason a name is not a channel PostgreSQL keeps exactly; empty when it is valid. */
function nameProblems(name: string): string[] {
  const problems: string[] = []
  if (name === '') problems.push('empty')
  if (utf8Bytes(name) > MAX_CHANNEL_NAME_BYTES) problems.push('too-long')
  if (name.includes('\0')) problems.push('contains-nul')
  if (LONE_SURROGATE.test(name)) problems.push('malformed-unicode')
  return problems
}

/** Every error class (and reason) that fits a payload; empty when it is valid. */
function payloadProblems(payload: string): string[] {
  const problems: string[] = []
  if (utf8Bytes(payload) > MAX_PAYLOAD_BYTES) problems.push('too-large')
  if (payload.includes('\0')) problems.push('contains-nul')
  if (LONE_SURROGATE.test(payload)) problems.push('malformed-unicode')
  return problems
}

const multiByte = ['é', '€', 'ß', '中', '😀', '𝄞', '\u{10FFFF}'] // 2, 3, 2, 3, 4, 4, 4 bytes
const loneSurrogate = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800')

/** ASCII up to `bytes` minus the multi-byte character, then that character: it straddles or ends at the limit. */
const aroundLimit = (limit: number, spread: number) =>
  fc
    .tuple(fc.integer({ min: limit - spread, max: limit + spread }), fc.constantFrom(...multiByte), fc.constantFrom('a', 'Z', ' ', '"'))
    .map(([bytes, character, fill]) => fill.repeat(Math.max(0, bytes - utf8Bytes(character))) + character)

/** Inserts `inner` at a drawn position of a drawn string. */
const withInside = (inner: fc.Arbitrary<string>) =>
  fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }), inner, fc.nat()).map(([text, insert, at]) => {
    const position = at % (text.length + 1)
    return text.slice(0, position) + insert + text.slice(position)
  })

const channelName: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.constantFrom(
    '"',
    '""',
    'a"b',
    '"quoted"',
    ' ',
    ' leading and trailing ',
    'x; DROP TABLE t',
    "'; SELECT pg_sleep(10); --",
    'UNLISTEN *',
    '*',
    '\\',
    '$$',
    'Orders',
    'orders',
    'tab\there',
    'new\nline',
    '😀',
    'ünïcødé',
  ),
  aroundLimit(MAX_CHANNEL_NAME_BYTES, 2),
  fc.constantFrom('', 'x'.repeat(64), 'é'.repeat(32), '😀'.repeat(16)),
  withInside(fc.constant('\0')),
  withInside(loneSurrogate),
)

const payload: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom("'; DROP TABLE t; --", '{"json": "\\u0000"}', '\\x00', '$1', '%s%n', '\r\n'),
  aroundLimit(MAX_PAYLOAD_BYTES, 3),
  fc.constant('😀'.repeat(2000)), // 8000 bytes
  withInside(fc.constant('\0')),
  withInside(loneSurrogate),
)

let db: PgListener
const reported: RxpgError[] = []

beforeAll(() => {
  db = createPgListener(databaseUrl())
  db.errors$.subscribe((error) => reported.push(error))
})
afterAll(async () => {
  await db.close()
})

/** What `notify$` put on `errors$` for one `next()` (reporting is synchronous). */
function notify$Error(channel: string, payload: string): RxpgError | undefined {
  const before = reported.length
  db.notify$.next({ channel, payload })
  expect(reported.length - before).toBeLessThanOrEqual(1)
  return reported[before]
}

async function notifyError(channel: string, payload: string): Promise<unknown> {
  return db.notify(channel, payload).then(
    () => undefined,
    (error: unknown) => error,
  )
}

function expectChannelError(error: unknown, name: string, problems: readonly string[]): void {
  expect(error).toBeInstanceOf(InvalidChannelNameError)
  const info = (error as InvalidChannelNameError).info
  expect(problems).toContain(info.reason)
  expect(info.channel).toBe(name)
  expect(info.limit).toBe(MAX_CHANNEL_NAME_BYTES)
  if (info.reason === 'too-long') expect(info.byteLength).toBe(utf8Bytes(name))
}

function expectPayloadError(error: unknown, channel: string, payload: string, problems: readonly string[]): void {
  if (error instanceof PayloadTooLargeError) {
    expect(problems).toContain('too-large')
    expect(error.info).toEqual({ channel, byteLength: utf8Bytes(payload), limit: MAX_PAYLOAD_BYTES })
  } else {
    expect(error).toBeInstanceOf(InvalidPayloadError)
    const info = (error as InvalidPayloadError).info
    expect(problems).toContain(info.reason)
    expect(info.channel).toBe(channel)
  }
}

describe('fuzzed channel names', () => {
  it('round-trips every valid name unchanged and refuses every invalid one with its typed error everywhere', async () => {
    let sequence = 0
    let valid = 0
    await fc.assert(
      fc.asyncProperty(channelName, async (name) => {
        const problems = nameProblems(name)
        if (problems.length > 0) {
          let thrown: unknown
          try {
            db.channel(name)
          } catch (error) {
            thrown = error
          }
          expectChannelError(thrown, name, problems)
          expectChannelError(await notifyError(name, 'x'), name, problems)
          expectChannelError(notify$Error(name, 'x'), name, problems)
          return
        }
        valid += 1
        const received: PgNotification[] = []
        const subscription = db.channel(name).subscribe((n) => received.push(n))
        try {
          const viaNotify = `fuzz-name ${process.pid} ${sequence++}`
          const viaSink = `fuzz-name ${process.pid} ${sequence++}`
          await db.notify(name, viaNotify)
          expect(notify$Error(name, viaSink)).toBeUndefined()
          await eventually(
            () => [viaNotify, viaSink].every((p) => received.some((n) => n.payload === p)),
            () => `${JSON.stringify(name)}: received ${JSON.stringify(received.map((n) => [n.channel, n.payload]))}`,
          )
          const mine = received.filter((n) => db.isOwnNotification(n))
          expect(mine.map((n) => [n.channel, n.payload])).toEqual([
            [name, viaNotify],
            [name, viaSink],
          ])
        } finally {
          subscription.unsubscribe()
        }
      }),
      { numRuns: 150 },
    )
    console.log(`[fuzz] ${valid} of 150 drawn names were valid and round-tripped`)
  }, 60_000)
})

describe('fuzzed payloads', () => {
  it('round-trips every valid payload unchanged, refuses every invalid one with its typed error, and sends nothing of it', async () => {
    const channel = uniqueName('fuzz-payload')
    const received: PgNotification[] = []
    const subscription = db.channel(channel).subscribe((n) => received.push(n))
    let sentinel = 0
    /** Everything received up to and including the next sentinel: proves what was (not) sent before it. */
    const untilSentinel = async (): Promise<string[]> => {
      const marker = `sentinel ${sentinel++}`
      await db.notify(channel, marker)
      await eventually(() => received.some((n) => n.payload === marker), () => `${marker} did not arrive`)
      const upTo = received.findIndex((n) => n.payload === marker)
      return received.splice(0, upTo + 1).map((n) => n.payload)
    }
    let valid = 0
    try {
      await fc.assert(
        fc.asyncProperty(payload, async (text) => {
          const problems = payloadProblems(text)
          if (problems.length > 0) {
            expectPayloadError(await notifyError(channel, text), channel, text, problems)
            expectPayloadError(notify$Error(channel, text), channel, text, problems)
            // Nothing half-sent: the next notification on the channel is the sentinel.
            expect((await untilSentinel()).slice(0, -1)).toEqual([])
            return
          }
          valid += 1
          await db.notify(channel, text)
          expect(notify$Error(channel, text)).toBeUndefined()
          // Both arrive, identical to what was sent, identical payloads included, in call order.
          const got = await untilSentinel()
          expect(got.slice(0, -1)).toEqual([text, text])
        }),
        { numRuns: 150 },
      )
    } finally {
      subscription.unsubscribe()
    }
    console.log(`[fuzz] ${valid} of 150 drawn payloads were valid and round-tripped`)
    expect(received.every((n) => n.channel === channel)).toBe(true)
  }, 60_000)

  it('takes exactly 7999 bytes and refuses 8000, whichever character ends the payload', async () => {
    const channel = uniqueName('fuzz-limit')
    const received: PgNotification[] = []
    const subscription = db.channel(channel).subscribe((n) => received.push(n))
    try {
      for (const character of multiByte) {
        const fits = 'a'.repeat(MAX_PAYLOAD_BYTES - utf8Bytes(character)) + character
        const over = 'a'.repeat(MAX_PAYLOAD_BYTES + 1 - utf8Bytes(character)) + character
        expect(utf8Bytes(fits)).toBe(7999)
        await db.notify(channel, fits)
        const error = await notifyError(channel, over)
        expect(error).toBeInstanceOf(PayloadTooLargeError)
        expect((error as PayloadTooLargeError).info).toEqual({ channel, byteLength: 8000, limit: 7999 })
      }
      await eventually(() => received.length === multiByte.length, () => `received ${received.length}`)
      expect(received.map((n) => utf8Bytes(n.payload))).toEqual(multiByte.map(() => 7999))
      expect(received.map((n) => [...n.payload].at(-1))).toEqual(multiByte)
    } finally {
      subscription.unsubscribe()
    }
  })
})
