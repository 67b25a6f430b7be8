/**
 * @internal Reads the JSON a trigger wrote (`to_json` of rows) into the documented JSON form of each type.
 *
 * PostgreSQL writes bigint and numeric values as JSON numbers with every digit, which `JSON.parse` would round
 * to a double (and `12.50` would lose its scale): their digits are kept as strings, as `pg` returns them. A
 * bytea is `\x`-hex whatever `bytea_output` the writer's session used. Everything else is the JSON PostgreSQL
 * wrote. Which form applies is decided per column, from the table's column types (`columnForms`).
 *
 * The types are those of when they were read, and a column's type can change while a feed runs. A value that
 * does not fit its column's form is the evidence: the column is named in `staleColumns` (the reader reads the
 * types again), and the value is kept as it is. In particular a number that a column of plain form cannot hold
 * as a double (an integer column now bigint, a text column now numeric) keeps its digits: no digit is ever lost.
 */

/**
 * How a column's JSON is read: `exact` (bigint, numeric, and arrays of them: numbers as strings), `bytea`
 * (always hex), `json` (json and jsonb: the JSON value, its numbers as JSON.parse reads them), `plain`.
 */
export type ColumnForm = 'exact' | 'bytea' | 'json' | 'plain'
export type ColumnForms = ReadonlyMap<string, ColumnForm>

/** The members of a change's JSON that hold a row or a key (the others are plain). */
const ROW_MEMBERS = new Set(['new', 'old', 'key', 'previousKey'])

type Mode = 'change' | 'row' | ColumnForm

export interface Parsed {
  readonly value: unknown
  /** Column names met in a row that `forms` does not know (added or renamed since the forms were read). */
  readonly unknownColumns: ReadonlySet<string>
  /** Columns with a value that does not fit their form (their type changed since the forms were read). */
  readonly staleColumns: ReadonlySet<string>
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
/** Integers of up to 15 digits: always exact as doubles (the common case, checked without converting back). */
const SHORT_INTEGER = /^-?[0-9]{1,15}$/
const INTEGER = /^-?[0-9]+$/
/** What PostgreSQL's bytea output can be: hex, or the escape format (printable ASCII, `\\` and `\ooo`). */
const BYTEA_TEXT = /^(?:\\x(?:[0-9a-fA-F]{2})*|(?:[\x20-\x5b\x5d-\x7e]|\\\\|\\[0-3][0-7]{2})*)$/

/** A JSON number's digits as (sign, significant digits, exponent), trailing fraction zeros kept: they are scale. */
function decimalOf(text: string): string | undefined {
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(text)
  if (match === null) return undefined
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match
  let digits = (whole + fraction).replace(/^0+/, '')
  let power = Number(exponent) - fraction.length
  if (fraction === '') {
    const zeros = /0*$/.exec(digits)?.[0].length ?? 0
    digits = digits.slice(0, digits.length - zeros)
    power += zeros
  }
  return digits === '' ? `${sign}0` : `${sign}${digits}e${power}`
}

/** True when a double holds the number exactly as written (every digit, and the scale of a decimal). */
export function exactAsDouble(text: string): boolean {
  if (SHORT_INTEGER.test(text)) return true
  const value = Number(text)
  // An integer is exact only as the same integer: 9223372036854775000 reads back as that text, but the double
  // is 9223372036854774784.
  if (INTEGER.test(text)) return Number.isFinite(value) && BigInt(value) === BigInt(text)
  return decimalOf(text) === decimalOf(Object.is(value, -0) ? '-0' : String(value))
}

/** A JSON parser that knows, at each value, which form applies. Strings are cut out with indexOf (large values are long strings). */
class FormParser {
  private at = 0
  private readonly unknown = new Set<string>()
  private readonly stale = new Set<string>()
  /** The row column whose value is being read. */
  private column: string | undefined

  constructor(
    private readonly text: string,
    private readonly forms: ColumnForms,
  ) {}

  parseAll(mode: Mode): Parsed {
    const value = this.value(mode)
    this.space()
    if (this.at !== this.text.length) this.fail('unexpected text after the value')
    return { value, unknownColumns: this.unknown, staleColumns: this.stale }
  }

  private value(mode: Mode): unknown {
    this.space()
    const c = this.text.charCodeAt(this.at)
    if (c === 123 /* { */) return this.object(mode)
    if (c === 91 /* [ */) return this.array(mode)
    if (c === 34 /* " */) {
      const text = this.string()
      if (mode === 'bytea') {
        if (BYTEA_TEXT.test(text)) return byteaAsHex(text)
        this.markStale()
      } else if (mode === 'exact' && text !== 'NaN' && text !== 'Infinity' && text !== '-Infinity') {
        this.markStale()
      }
      return text
    }
    if (this.text.startsWith('null', this.at)) return this.literal('null', null)
    if (this.text.startsWith('true', this.at)) return this.literal('true', true)
    if (this.text.startsWith('false', this.at)) return this.literal('false', false)
    NUMBER.lastIndex = this.at
    const match = NUMBER.exec(this.text)
    if (match === null) this.fail('expected a value')
    this.at = NUMBER.lastIndex
    const digits = match[0]
    if (mode === 'exact' || mode === 'json') return mode === 'exact' ? digits : Number(digits)
    if (mode === 'bytea') this.markStale()
    if (exactAsDouble(digits)) return Number(digits)
    this.markStale()
    return digits
  }

  private markStale(): void {
    if (this.column !== undefined) this.stale.add(this.column)
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
      const memberMode = this.memberMode(mode, name)
      if (mode === 'row') this.column = name
      const value = this.value(memberMode)
      if (mode === 'row') this.column = undefined
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
    const elements = mode === 'exact' || mode === 'bytea' || mode === 'json' ? mode : 'plain'
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
