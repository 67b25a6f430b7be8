/** Quoting for SQL text that cannot use parameters: replication connections speak the simple query protocol only. */

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
