/**
 * How `tables` names a table (lib/replication/table-names.ts): `schema.table` as spelled, or double-quoted parts
 * as in SQL for a name holding a dot. Every table can be named, and every accepted name means one table: a new
 * user's trial found `a.b.c` read as "a"."b.c" (table "c" of schema "a.b" could not be named at all), and
 * `a."b.c"` published as "a"."""b.c""".
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { ReplicationSetupError, changeStream, replicationSetupSql, type TypedChange } from '../../lib/replication/index.js'
import { readTableName, tableNameText } from '../../lib/replication/table-names.js'

const names = { slot: 'orders_feed', publication: 'orders_pub' }
const published = (table: string) => /CREATE PUBLICATION "orders_pub" FOR TABLE (.*) WITH/.exec(replicationSetupSql({ ...names, tables: [table] }))?.[1]

function refusal(attempt: () => unknown): ReplicationSetupError {
  try {
    attempt()
  } catch (error) {
    expect(error).toBeInstanceOf(ReplicationSetupError)
    expect((error as ReplicationSetupError).info.reason).toBe('invalid-name')
    return error as ReplicationSetupError
  }
  throw new Error('not refused')
}

describe('replication table names', () => {
  it.each([
    ['orders', '"public"."orders"'],
    ['sales.orders', '"sales"."orders"'],
    ['Sales.Orders', '"Sales"."Orders"'],
    ['"Sales"."Orders"', '"Sales"."Orders"'],
    ['"a.b".c', '"a.b"."c"'],
    ['a."b.c"', '"a"."b.c"'],
    ['"a.b"."c"', '"a.b"."c"'],
    ['"b.c"', '"public"."b.c"'],
    ['"x""y".t', '"x""y"."t"'],
    ['my table', '"public"."my table"'],
  ])('publishes %s as %s', (table, sql) => {
    expect(published(table)).toBe(sql)
  })

  it('refuses a name with two dots or more, naming each table it could be, in a form it takes', () => {
    const error = refusal(() => replicationSetupSql({ ...names, tables: ['a.b.c'] }))
    expect(error.message).toContain(`write 'a."b.c"' (table "b.c" of schema "a") or '"a.b".c' (table "c" of schema "a.b")`)
    for (const suggested of ['a."b.c"', '"a.b".c']) expect(published(suggested)).toBeDefined()
    expect(refusal(() => changeStream('postgres://app@localhost/app', { ...names, tables: ['a.b.c.d'] })).message).toContain(`'"a.b"."c.d"'`)
  })

  it.each([
    ['"a.b".C', `write '"a.b"."C"' for C, or '"a.b".c' for c`],
    ['"a.b".my table', `write '"a.b"."my table"'`],
    ['a"b', 'double-quote the whole name'],
    ['a."b', 'without its closing one'],
    ['"a"."b"."c"', 'more than a schema and a table'],
    ['"".t', 'empty'],
    ['a.', 'empty'],
    ['.a', 'empty'],
    ['"a" .b', 'not by a dot'],
  ])('refuses %s at once, saying what to write', (table, fix) => {
    for (const attempt of [() => replicationSetupSql({ ...names, tables: [table] }), () => changeStream('postgres://app@localhost/app', { ...names, tables: [table] })]) {
      expect(refusal(attempt).message).toContain(fix)
    }
  })

  it('names a table back in a form that reads as the same table', () => {
    for (const [schema, table, text] of [
      ['public', 'orders', 'public.orders'],
      ['Sales', 'Orders', 'Sales.Orders'],
      ['a.b', 'c', '"a.b".c'],
      ['a', 'b.c', 'a."b.c"'],
      ['A.b', 'C', '"A.b"."C"'],
      ['x"y', 't', '"x""y".t'],
    ] as const) {
      expect(tableNameText({ schema, table })).toBe(text)
      expect(readTableName(text)).toEqual({ schema, table })
    }
  })

  it('types the changes of quoted table keys by the names they stand for (checked by tsc)', () => {
    const decoder = (row: unknown) => ({ _tag: 'Right' as const, right: row as { id: number } })
    const tables = { orders: decoder, 'Sales.Refunds': decoder, '"a.b".c': decoder, 'a."b.c"': decoder, '"x"."y"': decoder, '"b.c"': decoder, '"x""y".t': decoder }
    type Names<C> = C extends { readonly schema: infer S; readonly table: infer T } ? [S, T] : never
    expectTypeOf<Names<TypedChange<typeof tables>>>().toEqualTypeOf<
      ['public', 'orders'] | ['Sales', 'Refunds'] | ['a.b', 'c'] | ['a', 'b.c'] | ['x', 'y'] | ['public', 'b.c'] | [string, 't']
    >()
    const stream = changeStream('postgres://app@localhost/app', { ...names, tables })
    void stream.close()
  })
})
