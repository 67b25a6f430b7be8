// The `rxpg` command as a user runs it: spawned processes against the real server, with their output, their
// messages on stderr and their exit codes (0 done or stopped by Ctrl-C, 1 failed, 2 usage, 3 no connection).
import { openSync, closeSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { filter, firstValueFrom } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { changeFeedSql } from '../../lib/changes/index.js'
import { createDurableLog, durableSchemaSql } from '../../lib/durable/index.js'
import { createProgram } from '../../lib/cli/program.js'
import { changesFixture, type ChangesFixture } from '../support/changes.js'
import { rxpg, rxpgWithBytes, rxpgWritingTo, startRxpg } from '../support/cli.js'
import { adminQuery, eventually } from '../support/database.js'
import { appendAll, horizonPassed, uniqueSchema } from '../support/durable.js'

let fixture: ChangesFixture
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  fixture = await changesFixture('cli')
  env = { ...process.env, DATABASE_URL: fixture.url }
})
afterAll(async () => {
  await fixture.close()
})

const channel = (name: string) => `${fixture.schema}-${name}`

/**
 * Runs a command in process with an output that stays full until released (a slow reader of stdout: `rxpg tail …
 * | slow`), checks that it writes one line and no more until then, and all `total` after. Returns the run, which
 * ends (with an error) when the spec takes away what it reads (wrapped: a promise returned from an async function would be awaited).
 */
async function expectPacedByStdout(args: string[], total: number): Promise<{ readonly running: Promise<unknown> }> {
  let lines = 0
  let full = true
  let release = () => undefined as void
  const drained = new Promise<void>((resolve) => (release = resolve))
  const program = createProgram({ out: (text) => ((lines += text.split('\n').length - 1), !full), err: () => undefined, drained: () => drained })
  const running = program.parseAsync(['node', 'rxpg', ...args, '--url', fixture.url]).then(
    () => undefined,
    (error: unknown) => error,
  )
  await eventually(() => lines > 0, () => 'a first line')
  // A bound on waiting for something that must not happen (not a timing assertion): it read on at once before.
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(lines).toBe(1)
  full = false
  release()
  await eventually(() => lines === total, () => `all ${total} lines, ${lines} so far`)
  return { running }
}

describe('rxpg listen', () => {
  it('prints notifications as they arrive, says on stderr when it reconnects, and exits with 0 on Ctrl-C', async () => {
    const listen = startRxpg(['listen', channel('a'), channel('b')], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    await fixture.listener.notify(channel('a'), 'first')
    expect((await rxpg(['notify', channel('b'), 'second'], { env })).code).toBe(0)
    await listen.until((r) => r.lines().length === 2, 'two lines')
    expect(listen.lines()).toEqual([`${channel('a')}\tfirst`, `${channel('b')}\tsecond`])

    const backend = /backend (\d+)/.exec(listen.stderr())?.[1]
    await adminQuery('SELECT pg_terminate_backend($1)', [Number(backend)], fixture.url)
    await listen.until((r) => r.stderr().includes('reconnected'), 'reconnected')
    expect(listen.stderr()).toMatch(/connection lost: .*; reconnecting \(attempt 1\)/)
    await fixture.listener.notify(channel('a'), 'after the reconnection')
    await listen.until((r) => r.lines().length === 3, 'the third line')
    expect(await listen.stop('SIGINT')).toBe(0)
  })

  it('prints one JSON object per line with --json', async () => {
    const listen = startRxpg(['listen', channel('json'), '--json'], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    await fixture.listener.notify(channel('json'), 'line\nbreak')
    await listen.until((r) => r.lines().length === 1, 'one line')
    expect(JSON.parse(listen.lines()[0]!)).toMatchObject({ channel: channel('json'), payload: 'line\nbreak', processId: expect.any(Number), receivedAt: expect.stringMatching(/Z$/) })
    expect(await listen.stop('SIGTERM')).toBe(0)
  })

  it('prints each notification once when a channel is named twice', async () => {
    const listen = startRxpg(['listen', channel('twice'), channel('twice')], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    expect(listen.stderr()).toContain(`listening on ${channel('twice')} (backend`)
    await fixture.listener.notify(channel('twice'), 'first')
    await fixture.listener.notify(channel('twice'), 'second')
    await listen.until((r) => r.lines().includes(`${channel('twice')}\tsecond`), 'the second notification')
    expect(listen.lines()).toEqual([`${channel('twice')}\tfirst`, `${channel('twice')}\tsecond`])
    expect(await listen.stop('SIGTERM')).toBe(0)
  })

  it('refuses a channel name it cannot listen to, with exit code 2', async () => {
    const result = await rxpg(['listen', 'x'.repeat(64)], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('Invalid channel name: it is 64 bytes')
  })
})

describe('rxpg notify', () => {
  it('sends the payload argument, or stdin without its trailing newline, and exits once committed', async () => {
    const listen = startRxpg(['listen', channel('n'), '--json'], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    expect(await rxpg(['notify', channel('n'), 'argument'], { env })).toMatchObject({ code: 0, stdout: '', stderr: '' })
    expect((await rxpg(['notify', channel('n')], { env, input: '{"from":"stdin"}\n' })).code).toBe(0)
    expect((await rxpg(['notify', channel('n'), '-'], { env, input: 'two\nlines\n' })).code).toBe(0)
    await listen.until((r) => r.lines().length === 3, 'three notifications')
    expect(listen.lines().map((line) => (JSON.parse(line) as { payload: string }).payload)).toEqual(['argument', '{"from":"stdin"}', 'two\nlines'])
    expect(await listen.stop()).toBe(0)
  })

  // A UTF-8 byte-order mark at the start of stdin was dropped (`printf '\xef\xbb\xbf{"id":1}' | rxpg notify enc`
  // sent {"id":1}): the payload is what stdin held, minus one trailing line break.
  it('sends stdin as it is, a byte-order mark at its start included', async () => {
    const listen = startRxpg(['listen', channel('bom'), '--json'], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    const bom = Buffer.from([0xef, 0xbb, 0xbf])
    expect((await rxpg(['notify', channel('bom')], { env, input: Buffer.concat([bom, Buffer.from('{"id":1}\n')]) })).code).toBe(0)
    expect((await rxpg(['notify', channel('bom'), '-'], { env, input: Buffer.concat([bom, bom, Buffer.from('two')]) })).code).toBe(0)
    expect((await rxpg(['notify', channel('bom')], { env, input: bom })).code).toBe(0)
    await listen.until((r) => r.lines().length === 3, 'three notifications')
    expect(listen.lines().map((line) => (JSON.parse(line) as { payload: string }).payload)).toEqual(['\uFEFF{"id":1}', '\uFEFF\uFEFFtwo', '\uFEFF'])
    expect(await listen.stop()).toBe(0)
  })

  // Node decodes a command's arguments as UTF-8, each byte that is not UTF-8 as U+FFFD, and the bytes are gone:
  // `rxpg notify orders café` typed in a LATIN1 terminal sent "caf\uFFFD" with 0, where the same bytes on stdin are refused.
  // Five processes, one of them listening throughout: 18 s of the default 30 s on a busy 2-core machine.
  it('refuses a channel or payload argument holding U+FFFD (a byte that is not UTF-8), with 2 and nothing sent; U+FFFD on stdin is sent', { timeout: 90_000 }, async () => {
    const listen = startRxpg(['listen', channel('fffd'), '--json'], env)
    await listen.until((r) => r.stderr().includes('listening on'), 'listening')
    const said = (what: string, at: number, fix = 'Use UTF-8 in the terminal or script') =>
      `rxpg: ${what} holds U+FFFD (character ${at}), which is what a byte that is not UTF-8 becomes in a command's arguments (a terminal or script in another encoding, such as LATIN1): it would be used changed, so nothing was done. ${fix}\n`
    const payload = await rxpgWithBytes(['notify', channel('fffd'), Buffer.from('café', 'latin1')], { env })
    expect({ code: payload.code, stderr: payload.stderr }).toEqual({ code: 2, stderr: said('the payload argument', 4, 'Use UTF-8 in the terminal or script; to send U+FFFD itself, give the payload on stdin') })
    const name = await rxpgWithBytes(['notify', Buffer.from(`${channel('fffd')}é`, 'latin1'), 'x'], { env })
    expect({ code: name.code, stderr: name.stderr }).toEqual({ code: 2, stderr: said('the channel argument', channel('fffd').length + 1) })
    // U+FFFD itself, in UTF-8, cannot be told from what a byte that is not UTF-8 became: refused too.
    const itself = await rxpg(['notify', channel('fffd'), 'a \uFFFD b'], { env })
    expect({ code: itself.code, stderr: itself.stderr }).toEqual({ code: 2, stderr: said('the payload argument', 3, 'Use UTF-8 in the terminal or script; to send U+FFFD itself, give the payload on stdin') })
    // On stdin, bytes that are not UTF-8 are refused: U+FFFD there is the character itself.
    expect((await rxpg(['notify', channel('fffd')], { env, input: 'a \uFFFD b\n' })).code).toBe(0)
    await listen.until((r) => r.lines().length === 1, 'the notification from stdin')
    expect(listen.lines().map((line) => (JSON.parse(line) as { payload: string }).payload)).toEqual(['a \uFFFD b'])
    // The name given to listen, and a channel name and a group name of the commands that read a durable log.
    for (const args of [
      ['listen', channel('ok'), Buffer.from('café', 'latin1')],
      ['tail', Buffer.from('café', 'latin1'), '--schema', fixture.schema],
      ['group', 'lag', 'orders', Buffer.from('café', 'latin1'), '--schema', fixture.schema],
    ]) {
      const refused = await rxpgWithBytes(args, { env })
      expect({ code: refused.code, stderr: refused.stderr }, String(args[0])).toEqual({ code: 2, stderr: expect.stringMatching(/^rxpg: the (2nd )?(channel|group) argument holds U\+FFFD \(character 4\)/) })
    }
    expect(await listen.stop()).toBe(0)
  })

  it('refuses what the library refuses, before sending, with exit code 2', async () => {
    const tooLarge = await rxpg(['notify', channel('n'), 'é'.repeat(4000)], { env })
    expect(tooLarge.code).toBe(2)
    expect(tooLarge.stderr).toContain('8000 bytes of UTF-8, over PostgreSQL\'s limit of 7999 bytes; nothing was sent')
    expect((await rxpg(['notify', ''], { env })).code).toBe(2)
    const noDatabase = await rxpg(['notify', 'x', 'y'], { env: { ...process.env, DATABASE_URL: '' } })
    expect(noDatabase).toMatchObject({ code: 2, stderr: 'rxpg: no database: pass --url or set DATABASE_URL\n' })
    expect((await rxpg(['notify'], { env })).code).toBe(2)
  })

  it('refuses a --timeout that is not a positive whole number of ms, with exit code 2, before connecting', async () => {
    // An unreachable server: a refusal must come from the value, not from waiting on the connection.
    for (const timeout of ['abc', '-5', '0', '1.5', '', '2147483648']) {
      const result = await rxpg(['notify', 'x', 'y', '--url', 'postgres://u:secret@127.0.0.1:1/db', '--timeout', timeout], { env })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`option '--timeout <ms>' argument '${timeout}' is invalid`)
    }
  })

  it('exits with 3 when the server refuses the connection or cannot be reached, and never prints the password', async () => {
    const wrongPassword = fixture.url.replace(/:[^:@/]+@/, ':not-the-password@')
    const refused = await rxpg(['notify', 'x', 'y', '--url', wrongPassword, '--timeout', '5000'], { env })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain('password authentication failed')
    expect(refused.stderr).not.toContain('not-the-password')
    const unreachable = await rxpg(['notify', 'x', 'y', '--url', 'postgres://u:secret@127.0.0.1:1/db', '--timeout', '1000'], { env })
    expect(unreachable.code).toBe(3)
    expect(unreachable.stderr).not.toContain('secret')
  })
})

describe('rxpg tail', () => {
  it('prints a durable channel from earliest, then live, with --json, and exits with 0 on SIGTERM', async () => {
    const first = await fixture.log.append('tail-me', { n: 1 }, { key: 'k' })
    await horizonPassed(fixture.url)
    const tail = startRxpg(['tail', 'tail-me', '--from', 'earliest', '--schema', fixture.schema, '--json'], env)
    await tail.until((r) => r.lines().length === 1, 'the first message')
    await fixture.log.append('tail-me', { n: 2 })
    await tail.until((r) => r.lines().length === 2, 'the live message')
    const [one, two] = tail.lines().map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(one).toMatchObject({ token: first, channel: 'tail-me', key: 'k', value: { n: 1 } })
    expect(two).toMatchObject({ key: null, value: { n: 2 } })
    expect(await tail.stop('SIGTERM')).toBe(0)

    const after = startRxpg(['tail', 'tail-me', '--from', first, '--schema', fixture.schema], env)
    await after.until((r) => r.lines().length === 1, 'the message after the token')
    expect(after.lines()[0]).toMatch(/^rxd1\.\S+\t\{"n":2\}$/)
    expect(await after.stop()).toBe(0)
  })

  // A value written by another writer (SQL, another language) with a number a double cannot hold: JSON.parse read
  // 1e400 as Infinity, which JSON.stringify printed as null.
  it('prints the numbers of a value as stored where a double cannot hold them, one valid JSON line each', async () => {
    const stored = '{"big": 1e400, "small": -1e400, "tiny": 1e-400, "long": 9007199254740993, "plain": 1.5, "list": [1E+400, 2.50], "s": "1e400"}'
    await fixture.sql(`INSERT INTO "${fixture.schema}".durable_log (channel, part, value) VALUES ('tail-numbers', 0, $1)`, [stored])
    await horizonPassed(fixture.url)
    const printed = '{"big":1e400,"small":-1e400,"tiny":1e-400,"long":9007199254740993,"plain":1.5,"list":[1E+400,2.5],"s":"1e400"}'
    const json = startRxpg(['tail', 'tail-numbers', '--from', 'earliest', '--schema', fixture.schema, '--json'], env)
    await json.until((r) => r.lines().length === 1, 'the message')
    expect(json.lines()[0]).toMatch(new RegExp(`^\\{"token":"rxd1\\.[^"]+","channel":"tail-numbers","key":null,"partition":0,"appendedAt":"[^"]+","value":${printed.replace(/[[\]{}+.]/g, '\\$&')}\\}$`))
    expect(JSON.parse(json.lines()[0]!)).toMatchObject({ value: { big: Infinity, small: -Infinity, tiny: 0, long: 9007199254740992 } })
    expect(await json.stop()).toBe(0)
    const plain = startRxpg(['tail', 'tail-numbers', '--from', 'earliest', '--schema', fixture.schema], env)
    await plain.until((r) => r.lines().length === 1, 'the message')
    expect(plain.lines()[0]).toMatch(/^rxd1\.\S+\t/)
    expect(plain.lines()[0]!.split('\t')[1]).toBe(printed)
    expect(await plain.stop()).toBe(0)
  })

  // In process, with an output that stays full until released: a slow reader of stdout (`rxpg tail … | slow`)
  // once made it hold the whole backlog in memory (600 MB for 500,000 messages).
  it('reads no further than its reader: nothing more while stdout is full', async () => {
    const schema = uniqueSchema('cli_paced')
    const log = createDurableLog({ listener: fixture.listener, pool: fixture.url, schema })
    await log.ensureSchema()
    await appendAll(log, 'paced', Array.from({ length: 2500 }, (_, n) => ({ n })), fixture.url)
    await log.close()
    await horizonPassed(fixture.url)
    const { running } = await expectPacedByStdout(['tail', 'paced', '--from', 'earliest', '--schema', schema], 2500)
    // The log's schema dropped under it ends the command (with an error): the in-process run is over.
    await fixture.sql(`DROP SCHEMA "${schema}" CASCADE`)
    expect(await running).toBeInstanceOf(Error)
  })

  it('refuses a malformed token (2), and a log that is not installed (1, naming the SQL)', async () => {
    const malformed = await rxpg(['tail', 'x', '--from', 'not-a-token', '--schema', fixture.schema], { env })
    expect(malformed.code).toBe(2)
    expect(malformed.stderr).toContain('cannot be used (malformed)')
    // Before connecting: an unreachable server does not hold the refusal up (tail would wait for it for ever).
    for (const command of [['tail', 'x'], ['changes', 'public.t']]) {
      const offline = await rxpg([...command, '--from', 'rxd1.bogus', '--url', 'postgres://u:secret@127.0.0.1:1/db'], { env })
      expect(offline.code, command.join(' ')).toBe(2)
      expect(offline.stderr).toContain('cannot be used (malformed)')
    }
    const missing = await rxpg(['tail', 'x', '--schema', uniqueSchema('cli_no_log')], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('npx rxpg sql durable --schema')
  })

  it('exits with 3 and one line when the server refuses the password, whichever of its connections hears it first', async () => {
    const wrongPassword = fixture.url.replace(/:[^:@/]+@/, ':not-the-password@')
    // Its reader and its listener are refused one after the other: each order ended in a crash (exit 1) before.
    for (let run = 0; run < 3; run++) {
      const refused = await rxpg(['tail', 'x', '--schema', fixture.schema, '--url', wrongPassword], { env })
      expect({ code: refused.code, lines: refused.stderr.trim().split('\n') }).toMatchObject({ code: 3, lines: [expect.stringContaining('password authentication failed')] })
    }
  })
})

describe('rxpg group', () => {
  it('shows how far a consumer group is behind, moves it, and refuses a malformed position with 2', async () => {
    const schema = ['--schema', fixture.schema]
    await fixture.log.append('grouped', { n: 0 }, { key: 'a' })
    // 'now' is after the newest message below the snapshot horizon: a transaction of another spec still open
    // (the run's server is shared) would leave n: 0 after it, to be counted as waiting.
    await horizonPassed(fixture.url)
    // The group runs once (its cursors are made at 'now'), then stops.
    const member = fixture.log.consume('grouped', 'billing', () => undefined, { from: 'now' })
    await firstValueFrom(member.events$.pipe(filter((event) => event.kind === 'acquired')))
    await member.stop()
    await fixture.log.append('grouped', { n: 1 }, { key: 'a' })
    await fixture.log.append('grouped', { n: 2 }, { key: 'b' })
    const lag = await rxpg(['group', 'lag', 'grouped', 'billing', ...schema, '--json'], { env })
    expect(lag.code, lag.stderr).toBe(0)
    const parsed = JSON.parse(lag.stdout) as { waiting: number; oldestAppendedAt: string; partitions: Array<{ waiting: number; owner: string | null; cursor: string }> }
    expect(parsed.waiting).toBe(2)
    expect(typeof parsed.oldestAppendedAt).toBe('string')
    expect(parsed.partitions).toHaveLength(16)
    expect(parsed.partitions.every((p) => p.owner === null && p.cursor.startsWith('rxd1.'))).toBe(true)

    const listed = await rxpg(['group', 'list', 'grouped', ...schema], { env })
    expect([listed.code, listed.stdout]).toEqual([0, 'billing\n'])
    expect(await fixture.log.groups('grouped')).toEqual(['billing'])
    expect(await fixture.log.groups('nothing-here')).toEqual([])
    const table = await rxpg(['group', 'lag', 'grouped', 'billing', ...schema], { env })
    expect(table.stdout.split('\n')[0]).toMatch(/^waiting 2, oldest appended \d{4}-/)
    expect(table.stdout.split('\n')[1]).toBe('partition\twaiting\toldest\towner\tlease until\tcursor\texpired')
    expect(table.code).toBe(0)

    const moved = await rxpg(['group', 'move', 'grouped', 'billing', '--to', 'now', ...schema], { env })
    expect(moved.code, moved.stderr).toBe(0)
    expect(moved.stderr).toMatch(/^rxpg: group "billing" of "grouped" moved to now: rxd1\.\S+\n$/)
    expect((await fixture.log.groupLag('grouped', 'billing')).waiting).toBe(0)

    // A transaction id mistyped (a digit too many): past everything the database has written.
    const [prefix, log, epoch, tx, id] = moved.stderr.trim().split(' ').at(-1)!.split('.')
    const typo = [prefix, log, epoch, `${tx}99`, id].join('.')
    const ahead = await rxpg(['group', 'move', 'grouped', 'billing', '--to', typo, ...schema], { env })
    expect(ahead.code).toBe(1)
    expect(ahead.stderr).toMatch(/ahead-of-database/)
    // As retention's maintenance records a drop past the group's cursors: lag says so, and exits with 1.
    await fixture.log.append('grouped', { n: 3 })
    await adminQuery(`INSERT INTO "${fixture.schema}".durable_expired (channel, epoch, tx, id) SELECT 'grouped', epoch, tx, id FROM "${fixture.schema}".durable_log WHERE channel = 'grouped' ORDER BY epoch DESC, tx DESC, id DESC LIMIT 1`, [], fixture.url)
    const expired = await rxpg(['group', 'lag', 'grouped', 'billing', ...schema], { env })
    expect(expired.code).toBe(1)
    expect(expired.stdout.split('\n')[0]).toMatch(/, EXPIRED: retention dropped messages after its cursor$/)
    expect(expired.stderr).toBe('rxpg: group "billing" of "grouped" fell behind the retention: move it with rxpg group move grouped billing --to earliest\n')
    const malformed = await rxpg(['group', 'move', 'grouped', 'billing', '--to', 'yesterday', ...schema], { env })
    expect(malformed.code).toBe(2)
    const never = await rxpg(['group', 'lag', 'grouped', 'nobody', ...schema], { env })
    expect(never.stdout).toBe('waiting 0, oldest appended -\nno cursors: the group never ran\n')
  })
})

describe('rxpg sql', () => {
  it('prints the durable schema and a change feed, the key read from the primary key when not given', async () => {
    expect((await rxpg(['sql', 'durable', '--schema', 'x'], { env })).stdout).toBe(durableSchemaSql({ schema: 'x' }))
    const table = fixture.table('sql_orders')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text)`)
    const expected = changeFeedSql({ table, key: ['id'], ops: ['insert', 'delete'], when: 'true', logSchema: fixture.schema }).install
    const offline = await rxpg(['sql', 'changes', '--table', table, '--key', 'id', '--ops', 'insert,delete', '--when', 'true', '--log-schema', fixture.schema], { env: { ...process.env, DATABASE_URL: '' } })
    expect(offline).toMatchObject({ code: 0, stdout: expected })
    const discovered = await rxpg(['sql', 'changes', '--table', table, '--ops', 'insert,delete', '--when', 'true', '--log-schema', fixture.schema], { env })
    expect(discovered).toMatchObject({ code: 0, stdout: expected })
    expect((await rxpg(['sql', 'changes', '--table', table, '--drop'], { env })).stdout).toBe(changeFeedSql({ table, key: ['id'] }).drop)
  })

  // A repeated option kept only its last value, with exit code 0: --table a --table b printed b's feed alone, and
  // --key id --key tenant made a feed keyed on tenant alone (a new user's trial with many tables).
  // Eleven processes, one after the other: 29 s of the default 30 s on a busy 2-core machine.
  it('prints a feed for each --table, takes repeated --key, --columns and --ops as one list, and refuses other options given twice', { timeout: 120_000 }, async () => {
    const [first, second] = [fixture.table('sql_many_a'), fixture.table('sql_many_b')]
    await fixture.sql(`CREATE TABLE ${first} (id bigint PRIMARY KEY, v text); CREATE TABLE ${second} (tenant int, id int, v text, PRIMARY KEY (tenant, id))`)
    const both = await rxpg(['sql', 'changes', '--table', first, '--table', second, '--log-schema', fixture.schema], { env })
    expect(both).toMatchObject({ code: 0, stdout: changeFeedSql({ table: first, key: ['id'], logSchema: fixture.schema }).install + changeFeedSql({ table: second, key: ['tenant', 'id'], logSchema: fixture.schema }).install })
    const dropBoth = await rxpg(['sql', 'changes', '--table', first, '--table', second, '--drop'], { env })
    expect(dropBoth.stdout).toBe(changeFeedSql({ table: first, key: ['id'] }).drop + changeFeedSql({ table: second, key: ['id'] }).drop)
    const listed = await rxpg(['sql', 'changes', '--table', second, '--key', 'tenant', '--key', 'id', '--columns', 'id', '--columns', 'v', '--ops', 'insert', '--ops', 'delete'], { env })
    expect(listed).toMatchObject({ code: 0, stdout: changeFeedSql({ table: second, key: ['tenant', 'id'], columns: ['id', 'v'], ops: ['insert', 'delete'] }).install })
    // What names one table cannot name several.
    for (const option of [['--name', 'x'], ['--key', 'id'], ['--columns', 'id']]) {
      const refused = await rxpg(['sql', 'changes', '--table', first, '--table', second, ...option], { env })
      expect({ code: refused.code, stderr: refused.stderr }, option[0]).toMatchObject({ code: 2, stderr: expect.stringContaining(`${option[0]} applies to one table`) })
    }
    for (const args of [
      ['sql', 'changes', '--table', first, '--name', 'a', '--name', 'b'],
      ['sql', 'changes', '--table', first, '--log-schema', 'a', '--log-schema', 'b'],
      ['sql', 'durable', '--schema', 'a', '--schema', 'b'],
      ['tail', 'x', '--from', 'now', '--from', 'earliest'],
      ['notify', 'x', 'y', '--timeout', '100', '--timeout', '200'],
    ]) {
      const twice = await rxpg(args, { env })
      expect({ code: twice.code, stderr: twice.stderr }, args.join(' ')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--[a-z-]+ is given twice/) })
    }
  })

  it('exits with 1 for a table without a primary key, and 2 without a key or a database to read it from', async () => {
    const table = fixture.table('sql_no_key')
    await fixture.sql(`CREATE TABLE ${table} (id int)`)
    const noKey = await rxpg(['sql', 'changes', '--table', table], { env })
    expect(noKey.code).toBe(1)
    expect(noKey.stderr).toContain('has no primary key')
    const nowhere = await rxpg(['sql', 'changes', '--table', table], { env: { ...process.env, DATABASE_URL: '' } })
    expect(nowhere.code).toBe(2)
    expect((await rxpg(['sql', 'changes', '--table', table, '--key', 'id', '--ops', 'upsert'], { env })).code).toBe(2)
  })

  it('refuses a condition for an op the feed does not report (2), and exits with 3 when the database to read the key from cannot be used', async () => {
    const unreported = await rxpg(['sql', 'changes', '--table', 'public.orders', '--key', 'id', '--ops', 'update', '--when-insert', 'true'], { env })
    expect(unreported.code).toBe(2)
    expect(unreported.stderr).toContain('when.insert: the feed does not report inserts')
    const unreachable = await rxpg(['sql', 'changes', '--table', 'public.orders', '--url', 'postgres://u:secret@127.0.0.1:1/db'], { env })
    expect(unreachable.code).toBe(3)
    expect(unreachable.stderr).not.toContain('secret')
    const refused = await rxpg(['sql', 'changes', '--table', 'public.orders', '--url', fixture.url.replace(/:[^:@/]+@/, ':not-the-password@')], { env })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain('password authentication failed')
  })
})

describe('a server that accepts connections and never answers', () => {
  // A paused pooler, a hung server: the commands that must answer (sql changes reading the key, changes
  // checking its feed) gave up never, without a word.
  it('makes sql changes and changes give up after --timeout with 3, in one line', async () => {
    const silent = createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const url = `postgres://u:secret@127.0.0.1:${(silent.address() as AddressInfo).port}/db`
    try {
      for (const command of [['sql', 'changes', '--table', 'public.orders'], ['changes', 'public.orders']]) {
        const result = await rxpg([...command, '--url', url, '--timeout', '300'], { env })
        expect({ code: result.code, lines: result.stderr.trim().split('\n') }, command.join(' ')).toMatchObject({ code: 3, lines: [expect.stringMatching(/^rxpg: .*time/)] })
        expect(result.stderr).not.toContain('secret')
      }
    } finally {
      silent.close()
    }
  })
})

describe('rxpg changes', () => {
  it("prints a table's changes from the feed installed with rxpg sql changes, and exits with 0 on Ctrl-C", async () => {
    const table = fixture.table('cli_orders')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, total numeric(30, 2))`)
    const notInstalled = await rxpg(['changes', table], { env })
    expect(notInstalled.code).toBe(1)
    expect(notInstalled.stderr).toContain(`npx rxpg sql changes --table ${fixture.schema}.cli_orders --key id`)

    const migration = await rxpg(['sql', 'changes', '--table', table, '--log-schema', fixture.schema], { env })
    await fixture.sql(migration.stdout)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 12345678901234567890.10)`)
    const changes = startRxpg(['changes', table, '--from', 'earliest', '--json'], env)
    await changes.until((r) => r.lines().length === 1, 'the insert')
    await fixture.sql(`DELETE FROM ${table}`)
    await changes.until((r) => r.lines().length === 2, 'the delete')
    const [insert, remove] = changes.lines().map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(insert).toMatchObject({ op: 'insert', schema: fixture.schema, table: 'cli_orders', key: { id: '1' }, new: { id: '1', total: '12345678901234567890.10' }, old: null, token: expect.stringMatching(/^rxd1\./) })
    expect(remove).toMatchObject({ op: 'delete', new: null, old: { id: '1', total: '12345678901234567890.10' } })
    // Every line has every key, null where it does not apply.
    for (const line of [insert, remove]) {
      expect(Object.keys(line!)).toEqual(['op', 'schema', 'table', 'key', 'previousKey', 'new', 'old', 'token', 'statementTime', 'overflow'])
    }
    expect(insert).toMatchObject({ previousKey: null, overflow: null })
    expect(await changes.stop('SIGINT')).toBe(0)

    const plain = startRxpg(['changes', table, '--from', String(insert?.token)], env)
    await plain.until((r) => r.lines().length === 1, 'the delete, after the token')
    expect(plain.lines()[0]).toBe(`delete\t{"id":"1"}\t{"id":"1","total":"12345678901234567890.10"}`)
    expect(await plain.stop()).toBe(0)
  })
  // A running `rxpg changes` waited for ever, without a word, once its feed was dropped.
  it('exits with 1 when the feed it reads is dropped, within --recheck-interval', async () => {
    const table = fixture.table('cli_dropped_feed')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY)`)
    await fixture.sql(changeFeedSql({ table, key: ['id'], logSchema: fixture.schema }).install)
    const changes = startRxpg(['changes', table, '--recheck-interval', '100'], env)
    await changes.until((r) => r.stderr().includes('reading the changes of'), 'reading')
    await fixture.sql(changeFeedSql({ table, key: ['id'], logSchema: fixture.schema }).drop)
    expect(await changes.ended()).toBe(1)
    expect(changes.stderr()).toMatch(/rxpg: Change feed "cli_dropped_feed" .* is not installed \(its function .* was dropped while this reader read it/)
    const refused = await rxpg(['changes', table, '--recheck-interval', '0'], { env })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--recheck-interval/)
  })

  // A jsonb number beyond a double's range (1e400) was read as Infinity, and printed as null by JSON.stringify.
  it('prints the numbers of json and jsonb columns as stored where a double cannot hold them, one valid JSON line each', async () => {
    const table = fixture.table('cli_json_numbers')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, j jsonb, t json, f float8)`)
    await fixture.sql(changeFeedSql({ table, key: ['id'], logSchema: fixture.schema }).install)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, $1, $2, 'Infinity')`, ['{"big": 1e400, "small": -1e400, "tiny": 1e-400, "long": 9007199254740993, "plain": 1.5}', '{"big": 1e400, "list": [-1E400, 2]}'])
    // jsonb keeps the number, written out in full (as numeric prints it); json keeps the text.
    const row = `{"id":"1","j":{"big":1${'0'.repeat(400)},"long":9007199254740993,"tiny":0.${'0'.repeat(399)}1,"plain":1.5,"small":-1${'0'.repeat(400)}},"t":{"big":1e400,"list":[-1E400,2]},"f":"Infinity"}`
    const json = startRxpg(['changes', table, '--from', 'earliest', '--json'], env)
    await json.until((r) => r.lines().length === 1, 'the insert')
    const line = json.lines()[0]!
    expect(line).toContain(`"new":${row},"old":null,`)
    expect(JSON.parse(line)).toMatchObject({ new: { j: { big: Infinity, small: -Infinity, tiny: 0 }, t: { big: Infinity, list: [-Infinity, 2] } } })
    expect(await json.stop()).toBe(0)
    const plain = startRxpg(['changes', table, '--from', 'earliest'], env)
    await plain.until((r) => r.lines().length === 1, 'the insert')
    expect(plain.lines()).toEqual([`insert\t{"id":"1"}\t${row}`])
    expect(await plain.stop()).toBe(0)
  })

  // ALTER TABLE … SET SCHEMA: the start check said only "not installed", and the SQL it named moved the feed to
  // another channel (a new user's trial). It says the table moved, and its command keeps the feed's channel.
  it('says that a table moved to another schema, with the command that keeps its feed, and reads it with --feed-schema', async () => {
    const other = `${fixture.schema}_moved_to`
    await fixture.sql(`CREATE SCHEMA "${other}"`)
    const table = fixture.table('cli_moved')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text)`)
    await fixture.sql((await rxpg(['sql', 'changes', '--table', table, '--log-schema', fixture.schema], { env })).stdout)
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'before the move')`)
    await fixture.sql(`ALTER TABLE ${table} SET SCHEMA "${other}"`)
    const moved = `${other}.cli_moved`
    const refused = await rxpg(['changes', moved], { env })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/moved to schema/)
    const command = `npx rxpg sql changes --table ${moved} --feed-schema ${fixture.schema} --key id --log-schema ${fixture.schema}`
    expect(refused.stderr).toContain(command)
    const migration = await rxpg([...command.split(' ').slice(2)], { env })
    expect(migration.code).toBe(0)
    await fixture.sql(migration.stdout)
    await fixture.sql(`INSERT INTO "${other}".cli_moved VALUES (2, 'after')`)
    const changes = startRxpg(['changes', moved, '--feed-schema', fixture.schema, '--from', 'earliest'], env)
    await changes.until((r) => r.lines().length === 2, 'both inserts')
    expect(changes.lines()).toEqual([`insert\t{"id":"1"}\t{"id":"1","status":"before the move"}`, `insert\t{"id":"2"}\t{"id":"2","status":"after"}`])
    expect(await changes.stop('SIGINT')).toBe(0)
    await fixture.sql(`DROP SCHEMA "${other}" CASCADE`)
  })

  // In process, with an output that stays full until released, as for tail: `rxpg changes orders --from earliest
  // | slow-command` held every change of the backlog in memory.
  it('reads a durable feed no further than its reader: nothing more while stdout is full', async () => {
    // A log of its own, dropped at the end to end the in-process command (with an error), as tail's spec does.
    const logSchema = uniqueSchema('cli_paced_changes')
    const log = createDurableLog({ listener: fixture.listener, pool: fixture.url, schema: logSchema })
    await log.ensureSchema()
    await log.close()
    const table = fixture.table('cli_paced_orders')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text)`)
    await fixture.sql(changeFeedSql({ table, key: ['id'], logSchema }).install)
    await fixture.sql(`INSERT INTO ${table} SELECT g, 'placed' FROM generate_series(1, 2500) g`)
    await horizonPassed(fixture.url)
    const { running } = await expectPacedByStdout(['changes', table, '--from', 'earliest'], 2500)
    await fixture.sql(`DROP TABLE ${table}; DROP SCHEMA "${logSchema}" CASCADE`)
    expect(await running).toBeInstanceOf(Error)
  })
})

describe('rxpg changes on a light feed', () => {
  it("takes --from now, the documented default, and prints what commits from now", async () => {
    const table = fixture.table('cli_light')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, status text)`)
    await fixture.sql((await rxpg(['sql', 'changes', '--table', table, '--carrier', 'light'], { env })).stdout)
    const changes = startRxpg(['changes', table, '--from', 'now'], env)
    await changes.until((r) => r.stderr().includes('reading the changes of'), 'reading')
    await fixture.sql(`INSERT INTO ${table} VALUES (1, 'new')`)
    await changes.until((r) => r.lines().length === 1, 'the insert')
    expect(changes.lines()).toEqual(['insert\t{"id":"1"}\t{"id":"1","status":"new"}'])
    expect(await changes.stop('SIGINT')).toBe(0)
    // A position is still refused for a light feed: it has nothing to resume from.
    const earliest = await rxpg(['changes', table, '--from', 'earliest'], { env })
    expect(earliest.code).toBe(2)
    expect(earliest.stderr).toContain('`from` applies to durable feeds only')
  })

  it('prints the numbers of a jsonb column as stored where a double cannot hold them', async () => {
    const table = fixture.table('cli_light_numbers')
    await fixture.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, j jsonb)`)
    await fixture.sql(changeFeedSql({ table, key: ['id'], carrier: 'light' }).install)
    const changes = startRxpg(['changes', table, '--json'], env)
    await changes.until((r) => r.stderr().includes('reading the changes of'), 'reading')
    await fixture.sql(`INSERT INTO ${table} VALUES (1, '{"big": -1e400, "n": [1e-400]}')`)
    await changes.until((r) => r.lines().length === 1, 'the insert')
    expect(changes.lines()[0]).toContain(`"new":{"id":"1","j":{"n":[0.${'0'.repeat(399)}1],"big":-1${'0'.repeat(400)}}},"old":null,`)
    expect(await changes.stop('SIGINT')).toBe(0)
  })
})

describe('every command', () => {
  it.each(['listen', 'notify', 'tail', 'changes', 'sql', 'sql durable', 'sql changes'])('has --help: rxpg %s', async (command) => {
    const help = await rxpg([...command.split(' '), '--help'], { env })
    expect(help.code).toBe(0)
    expect(help.stdout).toContain(`Usage: rxpg ${command}`)
  })

  it('exits with 2 for an unknown command or option', async () => {
    expect((await rxpg(['nope'], { env })).code).toBe(2)
    expect((await rxpg(['listen', 'x', '--nope'], { env })).code).toBe(2)
  })

  it('exits with 2 at once for a --url or DATABASE_URL that is not a PostgreSQL connection string (pg would read it as a path)', async () => {
    for (const url of ['not a url', 'http://example.com/db']) {
      const refused = await rxpg(['notify', 'x', 'y', '--url', url, '--timeout', '60000'], { env })
      expect({ code: refused.code, stderr: refused.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('--url is not a PostgreSQL connection string') })
    }
    const badPort = await rxpg(['notify', 'x', 'y', '--url', 'postgres://u@127.0.0.1:99999/db', '--timeout', '60000'], { env })
    expect({ code: badPort.code, stderr: badPort.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('(configuration): the connection string could not be parsed: the port "99999" is out of range') })
    // Every command that connects says the same of a connection string pg cannot use (2), and of a socket that
    // is not there (3: the server cannot be reached); sql changes and changes said 1 for both.
    for (const command of [['sql', 'changes', '--table', 'public.t'], ['changes', 'public.t']]) {
      const outOfRange = await rxpg([...command, '--url', 'postgres://u@127.0.0.1:99999/db'], { env })
      expect({ code: outOfRange.code, stderr: outOfRange.stderr }, command.join(' ')).toMatchObject({ code: 2, stderr: expect.stringContaining('the connection string could not be parsed: the port "99999" is out of range') })
      const noSocket = await rxpg([...command, '--url', 'postgres://u@localhost/db?host=/nonexistent'], { env })
      expect({ code: noSocket.code, stderr: noSocket.stderr }, command.join(' ')).toMatchObject({ code: 3, stderr: expect.stringContaining('ENOENT') })
    }
    const fromEnvironment = await rxpg(['sql', 'changes', '--table', 'orders'], { env: { ...env, DATABASE_URL: 'localhost:5432/db' } })
    expect({ code: fromEnvironment.code, stderr: fromEnvironment.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('DATABASE_URL is not a PostgreSQL connection string') })
  })
})

describe('output and input that cannot be used', () => {
  it('says in one line that stdout cannot be written (a full disk), and exits with 1', async () => {
    const full = openSync('/dev/full', 'w')
    try {
      const result = await rxpgWritingTo(['sql', 'durable'], full, env)
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/^rxpg: cannot write the output: .*ENOSPC.*\n$/) })
    } finally {
      closeSync(full)
    }
  })

  it('refuses stdin that is not UTF-8, and an empty --url, with 2, before connecting', async () => {
    const notUtf8 = await rxpg(['notify', 'x'], { env, input: Buffer.from([0x62, 0x61, 0x64, 0xff, 0x0a]) })
    expect({ code: notUtf8.code, stderr: notUtf8.stderr }).toEqual({ code: 2, stderr: 'rxpg: the payload on stdin is not valid UTF-8 (byte 4): nothing was sent\n' })
    const emptyUrl = await rxpg(['notify', 'x', 'y', '--url', ''], { env })
    expect({ code: emptyUrl.code, stderr: emptyUrl.stderr }).toEqual({ code: 2, stderr: "rxpg: --url is empty: give a connection string, or leave --url out to use DATABASE_URL\n" })
  })
})

describe('a connection string holding U+FFFD (a byte that is not UTF-8)', () => {
  it('is refused with 2, before connecting, and not printed', async () => {
    const url = 'postgres://app:caf\uFFFD@127.0.0.1:1/db'
    const given = await rxpg(['notify', 'x', 'y', '--url', url, '--timeout', '60000'], { env })
    expect({ code: given.code, stderr: given.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^rxpg: --url holds U\+FFFD \(character 19\), which is what a byte that is not UTF-8 becomes/) })
    const inEnvironment = await rxpg(['notify', 'x', 'y', '--timeout', '60000'], { env: { ...env, DATABASE_URL: url } })
    expect({ code: inEnvironment.code, stderr: inEnvironment.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^rxpg: DATABASE_URL holds U\+FFFD \(character 19\), which is what a byte that is not UTF-8 becomes in a command's arguments and environment/) })
    expect(given.stderr + inEnvironment.stderr).not.toContain('caf')
  })
})

describe('rxpg CLI in a project without pg', () => {
  it('says in one line that it needs pg, and how to install it, instead of a stack trace', async () => {
    const hidden = ['--import', join(import.meta.dirname, '..', 'support', 'without-pg.mjs')]
    for (const args of [['--help'], ['--version'], ['sql', 'durable']]) {
      const result = await rxpg(args, { nodeArgs: hidden })
      expect(result.stderr).toBe("rxpg: the rxpg command needs the pg package, an optional peer dependency of rxpg: npm install pg\n")
      expect(result.code).toBe(1)
    }
  })
})
