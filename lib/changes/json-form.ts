/**
 * @internal Reads the JSON a trigger wrote (`to_json` of rows) into the documented JSON form of each type.
 *
 * PostgreSQL writes bigint and numeric values as JSON numbers with every digit, which `JSON.parse` would round
 * to a double (and `12.50` would lose its scale): their digits are kept as strings, as `pg` returns them. A
 * bytea is `\x`-hex whatever `bytea_output` the writer's session used. Everything else is the JSON PostgreSQL
 * wrote. Which form applies is decided per column, from the table's column types (`columnForms`).
 */

/** How a column's JSON is read: `exact` (bigint, numeric, and arrays of them: numbers as strings), `bytea` (always hex), `plain`. */
export type ColumnForm = 'exact' | 'bytea' | 'plain'
export type ColumnForms = ReadonlyMap<string, ColumnForm>

/** The members of a change's JSON that hold a row or a key (the others are plain). */
const ROW_MEMBERS = new Set(['new', 'old', 'key', 'previousKey'])

type Mode = 'change' | 'row' | ColumnForm

export interface Parsed {
  readonly value: unknown
  /** Column names met in a row that `forms` does not know (added or renamed since the forms were read). */
  readonly unknownColumns: ReadonlySet<string>
}

/** A change: an object whose `new`, `old`, `key` and `previousKey` members are rows. */
export function parseChangeJson(text: string, forms: ColumnForms): Parsed {
  return new FormParser(text, forms).parseAll('change')
}

/** One row (or one key): column name → value. */
export function parseRowJson(text: string, forms: ColumnForms): Parsed {
  return new FormParser(text, forms).parseAll('row')
}

/** A bytea in PostgreSQL's `escape` output (`abc\000\\`) as `\x` hex; hex stays as it is. */
export function byteaAsHex(text: string): string {
  if (text.startsWith('\\x')) return text
  const bytes: number[] = []
  for (let i = 0; i < text.length; ) {
    if (text.charCodeAt(i) !== 92) {
      bytes.push(text.charCodeAt(i))
      i += 1
    } else if (text[i + 1] === '\\') {
      bytes.push(92)
      i += 2
    } else {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8))
      i += 4
    }
  }
  return `\\x${Buffer.from(bytes).toString('hex')}`
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

/** A JSON parser that knows, at each value, which form applies. Strings are cut out with indexOf (large values are long strings). */
class FormParser {
  private at = 0
  private readonly unknown = new Set<string>()

  constructor(
    private readonly text: string,
    private readonly forms: ColumnForms,
  ) {}

  parseAll(mode: Mode): Parsed {
    const value = this.value(mode)
    this.space()
    if (this.at !== this.text.length) this.fail('unexpected text after the value')
    return { value, unknownColumns: this.unknown }
  }

  private value(mode: Mode): unknown {
    this.space()
    const c = this.text.charCodeAt(this.at)
    if (c === 123 /* { */) return this.object(mode)
    if (c === 91 /* [ */) return this.array(mode)
    if (c === 34 /* " */) {
      const text = this.string()
      return mode === 'bytea' ? byteaAsHex(text) : text
    }
    if (this.text.startsWith('null', this.at)) return this.literal('null', null)
    if (this.text.startsWith('true', this.at)) return this.literal('true', true)
    if (this.text.startsWith('false', this.at)) return this.literal('false', false)
    NUMBER.lastIndex = this.at
    const match = NUMBER.exec(this.text)
    if (match === null) this.fail('expected a value')
    this.at = NUMBER.lastIndex
    return mode === 'exact' ? match[0] : Number(match[0])
  }

  private object(mode: Mode): Record<string, unknown> {
    this.at += 1
    const result: Record<string, unknown> = {}
    this.space()
    if (this.text.charCodeAt(this.at) === 125 /* } */) {
      this.at += 1
      return result
    }
    for (;;) {
      this.space()
      if (this.text.charCodeAt(this.at) !== 34) this.fail('expected a member name')
      const name = this.string()
      this.space()
      if (this.text.charCodeAt(this.at) !== 58 /* : */) this.fail('expected ":"')
      this.at += 1
      const value = this.value(this.memberMode(mode, name))
      // As JSON.parse does: "__proto__" is a member like any other, never the object's prototype.
      if (name === '__proto__') Object.defineProperty(result, name, { value, enumerable: true, writable: true, configurable: true })
      else result[name] = value
      this.space()
      const next = this.text.charCodeAt(this.at)
      this.at += 1
      if (next === 125) return result
      if (next !== 44 /* , */) this.fail('expected "," or "}"')
    }
  }

  private memberMode(mode: Mode, name: string): Mode {
    if (mode === 'change') return ROW_MEMBERS.has(name) ? 'row' : 'plain'
    if (mode !== 'row') return mode
    const form = this.forms.get(name)
    if (form !== undefined) return form
    this.unknown.add(name)
    return 'plain'
  }

  private array(mode: Mode): unknown[] {
    this.at += 1
    const result: unknown[] = []
    this.space()
    if (this.text.charCodeAt(this.at) === 93 /* ] */) {
      this.at += 1
      return result
    }
    // Elements of an array column have the column's form; any other array's elements are plain.
    const elements = mode === 'exact' || mode === 'bytea' ? mode : 'plain'
    for (;;) {
      result.push(this.value(elements))
      this.space()
      const next = this.text.charCodeAt(this.at)
      this.at += 1
      if (next === 93) return result
      if (next !== 44) this.fail('expected "," or "]"')
    }
  }

  private string(): string {
    const start = this.at
    let end = this.text.indexOf('"', start + 1)
    // A quote preceded by an odd number of backslashes is escaped: look further.
    for (;;) {
      if (end < 0) this.fail('unterminated string')
      let backslashes = 0
      while (this.text.charCodeAt(end - 1 - backslashes) === 92) backslashes += 1
      if (backslashes % 2 === 0) break
      end = this.text.indexOf('"', end + 1)
    }
    this.at = end + 1
    const raw = this.text.slice(start + 1, end)
    return raw.includes('\\') ? (JSON.parse(this.text.slice(start, end + 1)) as string) : raw
  }

  private literal<T>(word: string, value: T): T {
    this.at += word.length
    return value
  }

  private space(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.at)
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return
      this.at += 1
    }
  }

  private fail(problem: string): never {
    throw new SyntaxError(`rxpg: the change's JSON could not be read (${problem} at ${this.at})`)
  }
}
