// The feed spec is checked before any SQL is generated, and the SQL quotes every name, keeps user conditions
// intact inside its dollar quotes, and keeps every generated name within PostgreSQL's 63 bytes.
import { describe, expect, it } from 'vitest'
import { changeFeedChannel, changeFeedSql, InvalidChangeFeedError, type ChangeFeedSpec } from '../../lib/changes/index.js'
import { namesOf, resolveFeed } from '../../lib/changes/feed.js'
import { installCommandOf } from '../../lib/changes/install-command.js'

const refusal = (spec: ChangeFeedSpec) => {
  try {
    changeFeedSql(spec)
  } catch (error) {
    return error
  }
  return undefined
}

describe('a feed spec', () => {
  it.each<[string, ChangeFeedSpec, RegExp]>([
    ['a key to generate SQL', { table: 'orders' }, /key is needed/],
    ['known ops', { table: 'orders', key: ['id'], ops: ['insert', 'upsert' as never] }, /unknown op/],
    ['at least one op', { table: 'orders', key: ['id'], ops: [] }, /non-empty/],
    ['non-empty column lists', { table: 'orders', key: ['id'], columns: [] }, /non-empty/],
    ['distinct columns', { table: 'orders', key: ['id'], columns: ['a', 'a'] }, /twice/],
    ['names PostgreSQL keeps whole', { table: 'orders', key: ['x'.repeat(64)] }, /64 bytes/],
    ['a table name', { table: 'a.b.c', key: ['id'] }, /more than a schema/],
    ['names without control characters (they would end an SQL comment)', { table: 'orders', key: ['id'], name: 'x\nDROP TABLE orders; --' }, /control character/],
    ['a closed quote', { table: '"orders', key: ['id'] }, /closing quote/],
    ['row-level light feeds', { table: 'orders', key: ['id'], carrier: 'light', level: 'statement' }, /level must be 'row'/],
    ['durable options on durable feeds', { table: 'orders', key: ['id'], carrier: 'light', wakeWindow: 5 }, /durable carrier only/],
    ['conditions for reported ops', { table: 'orders', key: ['id'], ops: ['insert'], when: { delete: 'true' } }, /does not report deletes/],
    ['no OLD in a condition for every op when inserts are reported (an insert has no old row)', { table: 'orders', key: ['id'], when: 'NEW.status <> OLD.status' }, /inserts have no OLD.*when: \{ update: /],
    ['no NEW in a condition for every op when deletes are reported (a delete has no new row)', { table: 'orders', key: ['id'], ops: ['update', 'delete'], when: 'NEW.total > 10' }, /deletes have no NEW/],
    ['no OLD in an insert condition', { table: 'orders', key: ['id'], when: { insert: 'old.total > 1' } }, /when.insert names OLD/],
    ['no NEW in a delete condition, whole-row references included', { table: 'orders', key: ['id'], when: { delete: 'OLD IS DISTINCT FROM NEW' } }, /when.delete names NEW/],
    ['no OLD written as a quoted name ("old" is the same variable)', { table: 'orders', key: ['id'], when: { insert: '"old".total > 0' } }, /when.insert names OLD/],
    ['partitions in range', { table: 'orders', key: ['id'], partitions: 0 }, /partitions/],
    ['at most 50 listed columns', { table: 'orders', key: ['id'], columns: Array.from({ length: 51 }, (_, i) => `c${i}`) }, /at most 50/],
  ])('needs %s', (_what, spec, message) => {
    const error = refusal(spec)
    expect(error).toBeInstanceOf(InvalidChangeFeedError)
    expect((error as InvalidChangeFeedError).code).toBe('CHANGES_INVALID_FEED')
    expect((error as Error).message).toMatch(message)
  })

  it('reads table names as PostgreSQL does: unquoted folds to lower case, quoted is exact, no schema is public', () => {
    expect(resolveFeed({ table: 'Orders' })).toMatchObject({ schema: 'public', table: 'orders', name: 'orders' })
    expect(resolveFeed({ table: '"Sales"."Big ""Orders"""' })).toMatchObject({ schema: 'Sales', table: 'Big "Orders"' })
    expect(resolveFeed({ table: ' shop.orders ' })).toMatchObject({ schema: 'shop', table: 'orders' })
  })

  it('applies the defaults of each carrier', () => {
    expect(resolveFeed({ table: 'orders' })).toMatchObject({ carrier: 'durable', level: 'statement', ops: ['insert', 'update', 'delete'], old: 'row', logSchema: 'rxpg', partitions: 16, wakeWindow: 5, skipUnchangedUpdates: true })
    expect(resolveFeed({ table: 'orders', carrier: 'light' })).toMatchObject({ level: 'row', logSchema: null, partitions: null, wakeWindow: null })
    expect(resolveFeed({ table: 'orders', ops: ['delete', 'insert'], when: 'true' }).when).toEqual({ insert: 'true', delete: 'true' })
  })

  it('takes NEW and OLD in conditions only where they are names, not inside strings, quoted names or comments', () => {
    const ok = (when: string, ops: ChangeFeedSpec['ops']) => resolveFeed({ table: 'orders', ops, when }).when
    expect(ok(`NEW.note <> 'OLD news' AND NEW."old" IS NOT NULL AND "OLD" > 0 -- old\n`, ['insert', 'update'])).toBeDefined()
    expect(ok(`OLD.renewed /* new */ AND $q$ NEW $q$ <> ''`, ['update', 'delete'])).toBeDefined()
    expect(ok(`NEW.status <> OLD.status`, ['update'])).toEqual({ update: 'NEW.status <> OLD.status' })
    expect(ok(`new_total > 0 AND NEW.renew`, ['insert'])).toBeDefined()
  })
})

describe('generated SQL', () => {
  it('quotes every name, odd ones included', () => {
    const { install, drop } = changeFeedSql({ table: '"My ""odd"" schema"."Or-ders"', key: ['Order Id'], columns: ["it's"], logSchema: 'log "s"' })
    expect(install).toContain('"My ""odd"" schema"."Or-ders"')
    // Row-level calls take columns out of the row's json (a literal), statement-level ones from the transition table.
    expect(install).toContain(`key_1 := new_json -> 'Order Id';`)
    expect(install).toContain(`json_build_object('Order Id', key_1)`)
    expect(install).toContain(`column_1 := new_json -> 'it''s';`)
    expect(install).toContain(`json_build_object('it''s', column_1)`)
    expect(install).toContain(`json_build_object('Order Id', new."Order Id")`)
    expect(install).toContain(`'it''s', new."it's"`)
    expect(install).toContain('"log ""s""".durable_log')
    expect(drop).toContain('DROP FUNCTION IF EXISTS "My ""odd"" schema"."rxpg_changes_Or-ders"();')
  })

  // `->` decodes every string of the row's json and refuses \u0000 and a lone surrogate escape, valid in a json
  // column: such a row is read from NEW or OLD by a statement parsed for the call, and the common row pays one strpos.
  it("reads a row that -> may refuse from the row itself, names quoted, and the common row with -> alone (no subtransaction)", () => {
    const odd = changeFeedSql({ table: '"My ""odd"" schema"."Or-ders"', key: ['Order Id'], columns: ["it's", 'back\\slash'], level: 'row' }).install
    expect(odd).toContain(
      `EXECUTE E'SELECT coalesce(to_json(($1)."Order Id"), ''null''), coalesce(to_json(($1)."it''s"), ''null''), coalesce(to_json(($1)."back\\\\slash"), ''null'')' INTO key_1, column_1, column_2 USING NEW;`,
    )
    const specs: ChangeFeedSpec[] = [
      { table: 'orders', key: ['id'] },
      { table: 'orders', key: ['id'], level: 'row', columns: ['id', 'doc'] },
      { table: 'orders', key: ['id', 'tenant'], carrier: 'light', old: 'key' },
    ]
    for (const spec of specs) {
      const lines = changeFeedSql(spec).install.split('\n').map((line) => line.trim())
      const guards = lines.flatMap((line, index) => (line.startsWith('IF strpos(') ? [index] : []))
      expect(guards.length, JSON.stringify(spec)).toBeGreaterThan(0)
      for (const guard of guards) {
        const common = lines.slice(guard + 1, lines.indexOf('ELSE', guard))
        expect(common.every((line) => /^(key|column)_\d+ := (new|old)_json -> '[^']+';$/.test(line)), common.join('\n')).toBe(true)
      }
      expect(lines.filter((line) => line.startsWith('EXCEPTION WHEN')).length, JSON.stringify(spec)).toBe(guards.length)
    }
  })

  it('keeps a condition intact even when it holds the dollar-quote tag', () => {
    const condition = "NEW.note <> '$fn$ and $triggers$'"
    const { install } = changeFeedSql({ table: 'orders', key: ['id'], ops: ['insert', 'update'], level: 'row', when: condition })
    expect(install).toContain(`WHEN ((OLD.* *<> NEW.*) AND (${condition}))`)
    expect(install).toContain('DO $triggers1$')
  })

  it('writes string constants so that backslashes mean the same whatever standard_conforming_strings says', () => {
    const { install } = changeFeedSql({ table: '"back\\slash"', key: ['id'], carrier: 'light' })
    expect(install).toContain(`pg_notify(E'changes:public."back\\\\slash"', payload)`)
  })

  it('keeps generated names within 63 bytes, distinct for distinct feeds', () => {
    const long = (suffix: string): ChangeFeedSpec => ({ table: 'orders', key: ['id'], name: `${'ü'.repeat(28)}${suffix}` })
    const [a, b] = [namesOf(resolveFeed(long('a'))), namesOf(resolveFeed(long('b')))]
    for (const name of [a.functionName, a.wakeSequence, a.channel, ...Object.values(a.triggerNames)]) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63)
    expect(a.functionName).not.toBe(b.functionName)
    expect(a.channel).not.toBe(b.channel)
    expect(changeFeedChannel({ table: 'shop.orders' })).toBe('changes:shop.orders')
  })

  // ALTER TABLE … SET SCHEMA moves the table and its triggers, not the feed's function: the feed keeps its schema.
  it("places a feed's function, wake sequence and channel in its schema (feedSchema), the table's by default, and says it in its command", () => {
    const moved = changeFeedSql({ table: 'other.orders', feedSchema: 'public', key: ['id'] })
    expect(moved.install).toContain('CREATE OR REPLACE FUNCTION "public"."rxpg_changes_orders"() RETURNS trigger')
    expect(moved.install).toContain('CREATE SEQUENCE IF NOT EXISTS "public"."rxpg_changes_orders_wake";')
    expect(moved.install).toContain('AFTER UPDATE ON "other"."orders"')
    expect(moved.drop).toContain('DROP FUNCTION IF EXISTS "public"."rxpg_changes_orders"();')
    expect(changeFeedChannel({ table: 'other.orders', feedSchema: 'public' })).toBe(changeFeedChannel({ table: 'public.orders' }))
    expect(changeFeedChannel({ table: 'other.orders' })).toBe('changes:other.orders')
    expect(installCommandOf(resolveFeed({ table: 'other.orders', feedSchema: 'public', name: 'o' }))).toMatch(/^npx rxpg sql changes --table other\.orders --feed-schema public --name o \|/)
    expect(installCommandOf(resolveFeed({ table: 'other.orders', feedSchema: 'other' }))).not.toContain('--feed-schema')
  })

  it('gives tables whose names only join to the same text channels of their own', () => {
    // "a.b".c and a."b.c" both read a.b.c when joined with a dot: one feed would deliver the other's rows.
    const dotted = changeFeedChannel({ table: '"a.b".c' })
    expect(dotted).not.toBe(changeFeedChannel({ table: 'a."b.c"' }))
    expect(dotted).toBe('changes:"a.b".c')
    expect(changeFeedChannel({ table: '"Shop"."Orders"' })).toBe('changes:"Shop"."Orders"')
    expect(changeFeedChannel({ table: 'shop."say ""hi"""' })).toBe('changes:shop."say ""hi"""')
  })

  it('is the same text for the same spec, and registers the durable channel only for durable feeds', () => {
    const spec: ChangeFeedSpec = { table: 'orders', key: ['id'] }
    expect(changeFeedSql(spec)).toEqual(changeFeedSql({ ...spec }))
    expect(changeFeedSql(spec).install).toContain('durable_channels')
    expect(changeFeedSql({ ...spec, carrier: 'light' }).install).not.toContain('durable_channels')
  })
})
