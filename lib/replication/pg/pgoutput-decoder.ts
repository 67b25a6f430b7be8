/**
 * Decodes pgoutput's logical replication messages (protocol version 1, which every supported server speaks)
 * into `ReplicationMessage`s: https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 *
 * Written for the hot path: offsets read straight from the buffer, a relation's column names and type
 * parsers looked up once per Relation message, one row object per tuple. Values arrive as text and are parsed
 * with pg's type parsers, so rows hold what a `pg` query would give (the commonest types are read from the
 * bytes where pg's own parser would give the same: column-readers.ts).
 */
import type { ChangeMessage, ReplicationMessage } from '../ports.js'
import { columnReaderOf, integerAt, INTEGER_VALUE, PARSED_VALUE, textAt, TEXT_VALUE, type ColumnReader } from './column-readers.js'

/** A text-to-value parser for one type (pg's `types.getTypeParser(oid, 'text')`). */
export type TypeParser = (text: string) => unknown

/**
 * How a column type's values are read: its parser; `unresolved`, a type not read from the catalog yet; or
 * `dropped`, a type the catalog no longer has (a domain dropped since the change was written), whose values
 * cannot be read as what they were.
 */
export type ColumnType = TypeParser | 'unresolved' | 'dropped'

/**
 * A Relation message named column types whose parser is not known yet (types the connection did not read
 * from the catalog before streaming, such as a domain created since): nothing of the relation was decoded.
 */
export class UnresolvedTypesError extends Error {
  constructor(
    readonly relation: string,
    readonly typeOids: readonly number[],
  ) {
    super(`pgoutput: relation ${relation} has columns of types not read from the catalog yet (oids ${typeOids.join(', ')})`)
  }
}

interface Relation {
  readonly oid: number
  readonly schema: string
  readonly table: string
  readonly names: readonly string[]
  readonly parsers: readonly TypeParser[]
  /** How each column's text becomes its value (`PARSED_VALUE`: by its parser). */
  readonly readers: readonly ColumnReader[]
  readonly isKey: readonly boolean[]
}

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const POSTGRES_EPOCH_MS = 946_684_800_000
const TWO_32 = 4_294_967_296

export class PgoutputDecoder {
  private readonly relations = new Map<number, Relation>()
  /** Read position inside the buffer being decoded. */
  private pos = 0
  /** Columns of the tuple just read that came as unchanged TOAST without a value. */
  private unchanged: string[] | undefined

  /** Columns of a dropped type that held a value in the tuples of the change just read. */
  private undecodable: string[] | undefined

  /** `typeOf` says how to read a column type's values. */
  constructor(private readonly typeOf: (typeOid: number) => ColumnType) {}

  /**
   * Decodes the pgoutput message at `offset` of `buffer` (an XLogData payload, right after the XLogData header,
   * whose last 8 bytes are the server's send time), calling `emit` for what it carries: nothing for Relation,
   * Type and Origin messages, one change per table for a TRUNCATE.
   */
  decode(buffer: Buffer, offset: number, emit: (message: ReplicationMessage) => void): void {
    this.pos = offset + 1
    switch (buffer[offset]) {
      case 0x42 /* B */:
        return emit({
          kind: 'begin',
          commitLsn: buffer.readBigUInt64BE(offset + 1),
          commitTime: timestampAt(buffer, offset + 9),
          sentAt: timestampAt(buffer, offset - 8),
          xid: buffer.readUInt32BE(offset + 17),
        })
      case 0x43 /* C */:
        return emit({ kind: 'commit', commitLsn: buffer.readBigUInt64BE(offset + 2), endLsn: buffer.readBigUInt64BE(offset + 10) })
      case 0x49 /* I */:
        return emit(this.insert(buffer))
      case 0x55 /* U */:
        return emit(this.update(buffer))
      case 0x44 /* D */:
        return emit(this.delete(buffer))
      case 0x54 /* T */:
        return this.truncate(buffer, emit)
      case 0x52 /* R */:
        return this.relation(buffer)
      case 0x59 /* Y */:
      case 0x4f /* O */:
      case 0x4d /* M */:
        return
      default:
        throw new Error(`pgoutput: unexpected message type ${JSON.stringify(String.fromCharCode(buffer[offset] ?? 0))}`)
    }
  }

  private relation(buffer: Buffer): void {
    const oid = buffer.readUInt32BE(this.pos)
    this.pos += 4
    const schema = this.string(buffer)
    const table = this.string(buffer)
    this.pos += 1 // replica identity setting
    const count = buffer.readUInt16BE(this.pos)
    this.pos += 2
    const names: string[] = []
    const parsers: TypeParser[] = []
    const readers: ColumnReader[] = []
    const isKey: boolean[] = []
    let unresolved: number[] | undefined
    for (let column = 0; column < count; column++) {
      isKey.push(((buffer[this.pos++] as number) & 1) === 1)
      const name = this.string(buffer)
      names.push(name)
      const typeOid = buffer.readUInt32BE(this.pos)
      const type = this.typeOf(typeOid)
      if (type === 'unresolved') (unresolved ??= []).push(typeOid)
      else if (type === 'dropped') {
        parsers.push(this.undecodableColumn(name, typeOid))
        readers.push(PARSED_VALUE)
      } else {
        parsers.push(type)
        readers.push(columnReaderOf(typeOid, type))
      }
      this.pos += 8 // type oid, type modifier
    }
    // pgoutput leaves the namespace empty for pg_catalog.
    const namespace = schema === '' ? 'pg_catalog' : schema
    if (unresolved !== undefined) throw new UnresolvedTypesError(`${namespace}.${table}`, unresolved)
    this.relations.set(oid, { oid, schema: namespace, table, names, parsers, readers, isKey })
  }

  /**
   * The parser of a column whose type was dropped: it keeps the server's text and marks the change that holds a
   * value of it as undecodable (so columns of other types cost nothing more per value).
   */
  private undecodableColumn(name: string, typeOid: number): TypeParser {
    return (text) => {
      ;(this.undecodable ??= []).push(`column ${JSON.stringify(name)} (type oid ${typeOid})`)
      return text
    }
  }

  private insert(buffer: Buffer): ChangeMessage {
    const relation = this.relationAt(buffer)
    this.pos += 1 // 'N'
    return this.refusedIfUndecodable({ kind: 'change', op: 'insert', schema: relation.schema, table: relation.table, relation: relation.oid, new: this.tuple(buffer, relation, false, undefined) })
  }

  /** The change, with the columns of a dropped type that held a value (and so cannot be read as what they were). */
  private refusedIfUndecodable(change: ChangeMessage): ChangeMessage {
    const undecodable = this.undecodable
    if (undecodable === undefined) return change
    this.undecodable = undefined
    return { ...change, undecodable }
  }

  private update(buffer: Buffer): ChangeMessage {
    const relation = this.relationAt(buffer)
    let old: Record<string, unknown> | undefined
    const kind = buffer[this.pos++]
    if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
      old = this.tuple(buffer, relation, kind === 0x4b, undefined)
      this.pos += 1 // 'N'
    }
    this.unchanged = undefined
    const row = this.tuple(buffer, relation, false, old)
    const unchangedToast = this.unchanged
    const change: ChangeMessage =
      unchangedToast === undefined
        ? { kind: 'change', op: 'update', schema: relation.schema, table: relation.table, relation: relation.oid, new: row, old }
        : { kind: 'change', op: 'update', schema: relation.schema, table: relation.table, relation: relation.oid, new: row, old, unchangedToast }
    return this.refusedIfUndecodable(change)
  }

  private delete(buffer: Buffer): ChangeMessage {
    const relation = this.relationAt(buffer)
    const kind = buffer[this.pos++]
    const old = this.tuple(buffer, relation, kind === 0x4b /* K */, undefined)
    return this.refusedIfUndecodable({ kind: 'change', op: 'delete', schema: relation.schema, table: relation.table, relation: relation.oid, old })
  }

  private truncate(buffer: Buffer, emit: (message: ReplicationMessage) => void): void {
    const count = buffer.readUInt32BE(this.pos)
    const flags = buffer[this.pos + 4] as number
    this.pos += 5
    const cascade = (flags & 1) === 1
    const restartIdentity = (flags & 2) === 2
    for (let index = 0; index < count; index++) {
      const relation = this.relationAt(buffer)
      emit({ kind: 'change', op: 'truncate', schema: relation.schema, table: relation.table, relation: relation.oid, cascade, restartIdentity })
    }
  }

  private relationAt(buffer: Buffer): Relation {
    const oid = buffer.readUInt32BE(this.pos)
    this.pos += 4
    const relation = this.relations.get(oid)
    // The server sends a Relation message before a relation's first change on every connection.
    if (relation === undefined) throw new Error(`pgoutput: change for relation ${oid} before its Relation message`)
    return relation
  }

  /**
   * Reads one TupleData. `keyOnly`: an old key, whose non-key columns are placeholders and are left out.
   * `old`: the old row, where an unchanged TOAST value of the new one is found (REPLICA IDENTITY FULL).
   */
  private tuple(buffer: Buffer, relation: Relation, keyOnly: boolean, old: Record<string, unknown> | undefined): Record<string, unknown> {
    const count = buffer.readUInt16BE(this.pos)
    let pos = this.pos + 2
    const row: Record<string, unknown> = {}
    const { names, parsers, readers, isKey } = relation
    for (let column = 0; column < count; column++) {
      const kind = buffer[pos++]
      const name = names[column] as string
      if (kind === 0x74 /* t */) {
        const length = buffer.readUInt32BE(pos)
        pos += 4
        const end = pos + length
        if (!keyOnly || isKey[column]) {
          const reader = readers[column]
          if (reader === TEXT_VALUE) row[name] = textAt(buffer, pos, end)
          else if (reader === INTEGER_VALUE) row[name] = integerAt(buffer, pos, end)
          else row[name] = (parsers[column] as TypeParser)(textAt(buffer, pos, end))
        }
        pos = end
      } else if (kind === 0x6e /* n */) {
        if (!keyOnly || isKey[column]) row[name] = null
      } else if (kind === 0x75 /* u */) {
        if (old !== undefined && Object.hasOwn(old, name)) row[name] = old[name]
        else (this.unchanged ??= []).push(name)
      } else if (kind === 0x62 /* b */) {
        const length = buffer.readUInt32BE(pos)
        pos += 4
        if (!keyOnly || isKey[column]) row[name] = Buffer.from(buffer.subarray(pos, pos + length))
        pos += length
      } else {
        throw new Error(`pgoutput: unexpected tuple column kind ${String(kind)}`)
      }
    }
    this.pos = pos
    return row
  }

  private string(buffer: Buffer): string {
    const end = buffer.indexOf(0, this.pos)
    const text = textAt(buffer, this.pos, end)
    this.pos = end + 1
    return text
  }
}

/** A protocol timestamp (microseconds since 2000-01-01, 64-bit) in ms since the Unix epoch. */
export function timestampAt(buffer: Buffer, offset: number): number {
  const micros = buffer.readInt32BE(offset) * TWO_32 + buffer.readUInt32BE(offset + 4)
  return POSTGRES_EPOCH_MS + micros / 1000
}
