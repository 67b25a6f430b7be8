/**
 * How rxpg reads the results of its own catalog queries (a feed's triggers and columns, a slot's row, a
 * publication's tables): with parsers of its own for the few types those queries return, passed per query, so
 * that what an application set for the whole process with `pg.types.setTypeParser` (json kept as text,
 * booleans as 't'/'f') does not change what rxpg reads. Arrays are returned as json by those queries. Any other
 * type is read as the server's text.
 */
import type pg from 'pg'

const OID = { bool: 16, int2: 21, int4: 23, json: 114, jsonb: 3802 } as const

const parsers = new Map<number, (text: string) => unknown>([
  [OID.bool, (text) => text === 't'],
  [OID.int2, Number],
  [OID.int4, Number],
  [OID.json, (text) => JSON.parse(text) as unknown],
  [OID.jsonb, (text) => JSON.parse(text) as unknown],
])

const asText = (text: string) => text

export const catalogTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) => parsers.get(oid) ?? asText) as pg.CustomTypesConfig['getTypeParser'],
}
