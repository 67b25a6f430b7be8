/**
 * The JSON the commands print of decoded values (changes' rows, tail's values), with each number as stored
 * where a double cannot hold it. JSON.parse reads a number beyond a double's range (a jsonb `1e400`) as
 * Infinity, and one with more digits than a double keeps (`9007199254740993`, `1e-400`) as another number;
 * JSON.stringify then printed null for the first (another value, of another type) and the rounded double for
 * the others. Where the JSON text the value was read from is at hand, `storedNumbers` keeps each number's text,
 * and `jsonText` prints that text in place of the double: valid JSON, the value as stored.
 */

/** A number of a JSON text, as written there. */
class StoredNumber {
  constructor(readonly text: string) {}
}

/**
 * A JSON text's numbers, where they stand: an array's elements, an object's members (the last of a name given
 * twice, as JSON.parse takes it), `undefined` for a string, true, false or null.
 */
export type StoredJson = StoredNumber | readonly StoredJson[] | ReadonlyMap<string, StoredJson> | undefined

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y
const LITERAL = /true|false|null/y
const SPACE = /[ \t\n\r]*/y

/**
 * A text with no run of 16 digits or points and no exponent has only numbers of at most 15 significant digits,
 * written without an exponent, which a double holds as written: there is nothing to keep, and it is not read again.
 */
const MAY_HOLD_LONG_NUMBERS = /[0-9.]{16}|[eE][+-]?[0-9]/

/**
 * The numbers of `text`, or `undefined` when it is not JSON, or has no number that a double does not hold as
 * written (then nothing is taken from it).
 */
export function storedNumbers(text: string): StoredJson {
  if (!MAY_HOLD_LONG_NUMBERS.test(text)) return undefined
  let at = 0
  const match = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at
    const found = pattern.exec(text)
    if (found === null) return undefined
    at = pattern.lastIndex
    return found[0]
  }
  /** A string's text, quotes included; cut out with indexOf (a value may be a long string). */
  const string = (): string => {
    const start = at
    let end = text.indexOf('"', start + 1)
    // A quote preceded by an odd number of backslashes is escaped: look further.
    for (;;) {
      if (end < 0) throw new SyntaxError('unterminated string')
      let backslashes = 0
      while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes += 1
      if (backslashes % 2 === 0) break
      end = text.indexOf('"', end + 1)
    }
    at = end + 1
    return text.slice(start, at)
  }
  const space = () => void match(SPACE)
  const expect = (char: string) => {
    space()
    if (text[at] !== char) throw new SyntaxError(`expected ${char}`)
    at += 1
  }
  const value = (): StoredJson => {
    space()
    const char = text[at]
    if (char === '{') {
      at += 1
      const members = new Map<string, StoredJson>()
      space()
      if (text[at] === '}') {
        at += 1
        return members
      }
      for (;;) {
        space()
        if (text[at] !== '"') throw new SyntaxError('expected a member name')
        const name = string()
        expect(':')
        // A later member of the same name replaces the earlier one, as in JSON.parse.
        members.set(name.includes('\\') ? (JSON.parse(name) as string) : name.slice(1, -1), value())
        space()
        if (text[at] === '}') {
          at += 1
          return members
        }
        expect(',')
      }
    }
    if (char === '[') {
      at += 1
      const elements: StoredJson[] = []
      space()
      if (text[at] === ']') {
        at += 1
        return elements
      }
      for (;;) {
        elements.push(value())
        space()
        if (text[at] === ']') {
          at += 1
          return elements
        }
        expect(',')
      }
    }
    if (char === '"') {
      string()
      return undefined
    }
    if (match(LITERAL) !== undefined) return undefined
    const number = match(NUMBER)
    if (number === undefined) throw new SyntaxError('expected a value')
    return new StoredNumber(number)
  }
  try {
    const stored = value()
    space()
    return at === text.length ? stored : undefined
  } catch {
    return undefined
  }
}

/**
 * `value` as JSON.stringify prints it, but for its numbers: one read from a number of `stored` (the text it was
 * read from) that a double does not hold as written is printed as written there, and ±Infinity with no text to
 * take it from as `1e999` or `-1e999` (a number beyond a double's range, which JSON.parse reads back as ±Infinity;
 * JSON.stringify printed null). NaN, which no JSON text holds, is null, as JSON.stringify prints it.
 */
export function jsonText(value: unknown, stored?: StoredJson): string {
  return write(value, stored) ?? 'null'
}

function write(value: unknown, stored: StoredJson): string | undefined {
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') value = (value as { toJSON(): unknown }).toJSON()
  switch (typeof value) {
    case 'number':
      return numberText(value, stored)
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'object':
      break
    default:
      // undefined, a function, a symbol: left out, as JSON.stringify leaves them out (null in an array).
      return undefined
  }
  if (value === null) return 'null'
  if (Array.isArray(value)) {
    const elements = Array.isArray(stored) ? (stored as readonly StoredJson[]) : undefined
    return `[${value.map((element: unknown, index) => write(element, elements?.[index]) ?? 'null').join(',')}]`
  }
  const members = stored instanceof Map ? stored : undefined
  const written: string[] = []
  for (const [name, member] of Object.entries(value)) {
    const text = write(member, members?.get(name))
    if (text !== undefined) written.push(`${JSON.stringify(name)}:${text}`)
  }
  return `{${written.join(',')}}`
}

function numberText(value: number, stored: StoredJson): string {
  // Only the number read from that text: the value and the text it is matched with may not be the same one.
  if (stored instanceof StoredNumber && Object.is(Number(stored.text), value) && decimalOf(stored.text) !== decimalOf(String(value))) return stored.text
  if (Number.isFinite(value)) return JSON.stringify(value)
  if (Number.isNaN(value)) return 'null'
  return value > 0 ? '1e999' : '-1e999'
}

/**
 * A number's value as (sign, significant digits, exponent), whatever its form (`1.50`, `1.5`, `15e-1` alike), or
 * undefined for what is not a number's text (`Infinity`). -0 is 0 (the same number).
 */
function decimalOf(text: string): string | undefined {
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(text)
  if (match === null) return undefined
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match
  const significant = (whole + fraction).replace(/^0+/, '')
  const digits = significant.replace(/0+$/, '')
  if (digits === '') return '0'
  // The exponent as digits (it may be beyond a double's exactness: 1e99999999999999999999).
  return `${sign}${digits}e${BigInt(exponent) - BigInt(fraction.length) + BigInt(significant.length - digits.length)}`
}
