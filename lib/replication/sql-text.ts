/** Quoting for SQL text that cannot use parameters: replication connections speak the simple query protocol only. */

/** A string literal: single quotes doubled; with backslashes, an escape string so that any setting reads it alike. */
export function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''")
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`
}

/**
 * A string literal in a replication command (START_REPLICATION's options): that grammar has standard strings
 * only, single quotes doubled and a backslash as itself; an escape string (E'…') is a syntax error there.
 */
export function replicationCommandLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

/** An identifier, exact and case-sensitive: double quotes, inner ones doubled. */
export function quoteName(name: string): string {
  return '"' + name.replaceAll('"', '""') + '"'
}

/** `schema.table` as a quoted qualified name. */
export function quoteQualified(qualified: string): string {
  const { schema, table } = splitQualified(qualified)
  return `${quoteName(schema)}.${quoteName(table)}`
}

/** `orders` is `public.orders`; `sales.orders` is table `orders` of schema `sales` (the first dot splits). */
export function splitQualified(name: string): { readonly schema: string; readonly table: string } {
  const dot = name.indexOf('.')
  return dot < 0 ? { schema: 'public', table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) }
}

/** The canonical `schema.table` form of a name given as `table` or `schema.table`. */
export function qualified(name: string): string {
  const { schema, table } = splitQualified(name)
  return `${schema}.${table}`
}
