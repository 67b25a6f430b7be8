/**
 * Which tables a stream delivers, and the decoder of each: `tables` as a list of names (raw rows), as a record
 * of name → decoder (typed rows), or left out (every table of the publication, raw rows).
 */
import { runnerFor, type Attempt, type Decoder } from '../operators/decoder.js'
import { parseTableName, tableNameText } from './table-names.js'

/** A table's decoder as a function that never throws; undefined for raw rows. */
export type RowDecoder = ((row: unknown) => Attempt<unknown> | Promise<Attempt<unknown>>) | undefined

/** `tables` as the options take it. */
export type TablesOption = readonly string[] | Readonly<Record<string, Decoder<unknown>>>

export class TableSelection {
  /** schema → table → decoder; undefined when every table is delivered raw. */
  private readonly bySchema: Map<string, Map<string, RowDecoder>> | undefined

  constructor(tables: TablesOption | undefined) {
    if (tables === undefined) {
      this.bySchema = undefined
      return
    }
    this.bySchema = new Map()
    const entries: Array<[string, RowDecoder]> = Array.isArray(tables)
      ? (tables as readonly string[]).map((name) => [name, undefined])
      : Object.entries(tables as Record<string, Decoder<unknown>>).map(([name, decoder]) => [name, runnerFor(decoder)])
    for (const [name, decoder] of entries) {
      const { schema, table } = parseTableName(name)
      let tablesOfSchema = this.bySchema.get(schema)
      if (tablesOfSchema === undefined) this.bySchema.set(schema, (tablesOfSchema = new Map()))
      tablesOfSchema.set(table, decoder)
    }
  }

  /** The tables named, as `tableNameText` writes them; undefined for "every table of the publication". */
  get names(): readonly string[] | undefined {
    if (this.bySchema === undefined) return undefined
    return [...this.bySchema].flatMap(([schema, tables]) => [...tables.keys()].map((table) => tableNameText({ schema, table })))
  }

  /** False when the table is not delivered; otherwise its decoder (undefined: raw rows). */
  lookup(schema: string, table: string): RowDecoder | false {
    if (this.bySchema === undefined) return undefined
    const tablesOfSchema = this.bySchema.get(schema)
    if (tablesOfSchema === undefined || !tablesOfSchema.has(table)) return false
    return tablesOfSchema.get(table)
  }
}
