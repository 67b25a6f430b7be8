/**
 * @internal Writing names and constants into generated SQL (DDL has no parameters): identifiers are always
 * quoted, string constants always quoted literals, bodies always dollar-quoted with a tag they do not contain.
 */
import { quoteIdentifier } from '../index.js'

/**
 * A name as a person writes it: plain when PostgreSQL would fold it to itself, else double-quoted (`""` for a
 * quote). Unambiguous when joined with dots, as the quoted form is, and reads naturally for the usual names.
 */
export function readableName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdentifier(name)
}

/** `"schema"."name"`. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`
}

/** `$tag$body$tag$`, with a tag the body does not contain. */
export function dollarQuoted(body: string, tag: string): string {
  let chosen = tag
  for (let n = 1; body.includes(`$${chosen}$`); n++) chosen = `${tag}${n}`
  return `$${chosen}$\n${body}\n$${chosen}$`
}
