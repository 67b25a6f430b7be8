/**
 * How a table is named in `tables` (of `changeStream`, `transactionStream`, `ensureReplication` and
 * `replicationSetupSql`), and how rxpg names a table back (in errors, `addedTables`, the facts it checks).
 *
 * - `orders` is table `orders` of schema `public`; `sales.orders` is table `orders` of schema `sales`. Without
 *   double quotes a name is taken as it is spelled (`Sales.Orders` is schema `Sales`, table `Orders`, with no
 *   folding to lower case), and it has at most one dot: `a.b.c` could be table `c` of schema `a.b` or table
 *   `b.c` of schema `a`, so it is refused, naming both.
 * - A schema or table whose name holds a dot (or a double quote) is written double-quoted, as in SQL: `"a.b".c`,
 *   `a."b.c"`, `"x""y".t`. With double quotes the name is read as PostgreSQL reads it, and an unquoted part
 *   beside them must be one PostgreSQL reads as itself (lower-case letters, digits, `_` and `$`, not starting
 *   with a digit): `"a.b".Orders` would be `orders` to PostgreSQL and `Orders` as spelled, so it is refused
 *   (write `"a.b"."Orders"` or `"a.b".orders`).
 *
 * So every table can be named, and every accepted name means one table, the same one for rxpg and for
 * PostgreSQL whenever it holds a double quote. rxpg/changes reads table names as SQL does throughout (an
 * unquoted part folded to lower case); a stream's names kept their exact spelling, which typed `tables` keys
 * rely on (`change.table` is the key's table name).
 */
import { quoteName } from './sql-text.js'

/** A table, by its schema's name and its own, exactly as the catalog spells them. */
export interface TableName {
  readonly schema: string
  readonly table: string
}

/** A part PostgreSQL reads, unquoted, as itself. */
const PLAIN = /^[a-z_][a-z0-9_$]*$/
/** At most this many readings of a name with several dots are suggested. */
const MAX_READINGS = 4

/** The table `text` names, or why it names none (a sentence without a final full stop). */
export function readTableName(text: unknown): TableName | { readonly problem: string } {
  if (typeof text !== 'string' || text === '' || text.includes('\0')) return { problem: `table ${JSON.stringify(text)} is not a name` }
  const shown = `'${text}'`
  if (!text.includes('"')) {
    const parts = text.split('.')
    if (parts.some((part) => part === '')) return { problem: `table ${shown} is not a name: a schema or table name is empty` }
    if (parts.length === 1) return { schema: 'public', table: text }
    if (parts.length === 2) return { schema: parts[0] as string, table: parts[1] as string }
    const readings = parts.slice(1).map((_, i) => ({ schema: parts.slice(0, i + 1).join('.'), table: parts.slice(i + 1).join('.') }))
    const told = readings.slice(0, MAX_READINGS).map((reading) => `'${tableNameText(reading)}' (table ${JSON.stringify(reading.table)} of schema ${JSON.stringify(reading.schema)})`)
    return {
      problem:
        `table ${shown} has ${parts.length - 1} dots, so which one ends the schema's name is not clear: write ` +
        `${told.join(told.length > 2 ? ', or ' : ' or ')}${readings.length > MAX_READINGS ? ', …' : ''}, double-quoting the name that holds a dot, as in SQL`,
    }
  }
  const parts: string[] = []
  let rest = text
  for (;;) {
    if (rest.startsWith('"')) {
      const quoted = /^"((?:[^"]|"")*)"/.exec(rest)
      if (quoted === null) return { problem: `table ${shown} has a double quote without its closing one` }
      const part = (quoted[1] as string).replaceAll('""', '"')
      if (part === '') return { problem: `table ${shown} is not a name: a schema or table name is empty` }
      parts.push(part)
      rest = rest.slice(quoted[0].length)
    } else {
      const plain = /^[^."]*/.exec(rest)?.[0] ?? ''
      if (plain === '') return { problem: `table ${shown} is not a name: a schema or table name is empty` }
      const at = text.length - rest.length
      rest = rest.slice(plain.length)
      if (rest.startsWith('"')) return { problem: `table ${shown} has a double quote inside a name: double-quote the whole name and double the quote in it, as in SQL ("a""b")` }
      if (!PLAIN.test(plain)) {
        const written = (part: string) => `'${text.slice(0, at)}${part}${rest}'`
        const folded = plain.toLowerCase()
        const fix =
          PLAIN.test(folded) && folded !== plain
            ? `PostgreSQL reads its unquoted ${plain} as ${folded}: write ${written(quoteName(plain))} for ${plain}, or ${written(folded)} for ${folded}`
            : `its unquoted ${plain} is not a name SQL reads as it is: write ${written(quoteName(plain))}`
        return { problem: `table ${shown} has double quotes, so it is read as SQL reads it, and ${fix}` }
      }
      parts.push(plain)
    }
    if (rest === '') break
    if (!rest.startsWith('.')) return { problem: `table ${shown} is not a name: a double-quoted name is followed by ${JSON.stringify(rest[0])}, not by a dot` }
    rest = rest.slice(1)
  }
  if (parts.length > 2) return { problem: `table ${shown} has more than a schema and a table` }
  return parts.length === 2 ? { schema: parts[0] as string, table: parts[1] as string } : { schema: 'public', table: parts[0] as string }
}

/** The table `text` names; throws a TypeError for a name `readTableName` refuses (checked before). */
export function parseTableName(text: string): TableName {
  const read = readTableName(text)
  if ('problem' in read) throw new TypeError(`rxpg/replication: ${read.problem}`)
  return read
}

/**
 * A table as `tables` names it, and as rxpg names it back: `schema.table` when neither name holds a dot or a
 * double quote (`public.orders`, `Sales.Orders`), else with each name that is not plain double-quoted
 * (`"a.b".c`, `a."b.c"`). `parseTableName` reads it back as the same table.
 */
export function tableNameText(name: TableName): string {
  if (!/[."]/.test(name.schema) && !/[."]/.test(name.table)) return `${name.schema}.${name.table}`
  return `${sqlPart(name.schema)}.${sqlPart(name.table)}`
}

/** The same name as `text` in the form rxpg names it back (`orders` → `public.orders`, `"a"."b.c"` → `a."b.c"`). */
export function canonicalTableName(text: string): string {
  return tableNameText(parseTableName(text))
}

/** A table as SQL text reads it: each name plain when PostgreSQL reads it as itself, else double-quoted. */
export function tableNameSql(name: TableName): string {
  return `${sqlPart(name.schema)}.${sqlPart(name.table)}`
}

/** A table as an exact quoted identifier, for the statements rxpg writes: `"schema"."table"`. */
export function quotedTableName(name: TableName): string {
  return `${quoteName(name.schema)}.${quoteName(name.table)}`
}

function sqlPart(part: string): string {
  return PLAIN.test(part) ? part : quoteName(part)
}
