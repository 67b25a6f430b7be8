/**
 * Arguments that are not UTF-8. Node decodes a command's arguments (and its environment) as UTF-8, each byte that
 * is not UTF-8 as U+FFFD (the replacement character), and the bytes are gone: `rxpg notify orders café` typed in
 * a LATIN1 terminal sent "caf\uFFFD", with 0, where the same bytes on stdin are refused. Every argument and option
 * value of every command (a channel, a payload, a group, table, feed, schema or column name, a condition, a token,
 * --url) and DATABASE_URL is a name or a value that would be used changed: one holding U+FFFD is refused (exit
 * 2) before anything is done. U+FFFD itself, typed in UTF-8, cannot be told from it; a payload on stdin can hold it.
 */
import type { Command } from 'commander'
import { UsageError } from './exit-codes.js'

const REPLACEMENT = '\uFFFD'

/**
 * The refusal of `text` when it holds U+FFFD, saying which (`what`) and where: `from` says how the text came
 * (`a command's arguments`), `itself` how to give U+FFFD itself, where there is a way.
 */
export function replacementCharacterProblem(text: string, what: string, from = "a command's arguments", itself?: string): UsageError | undefined {
  const index = text.indexOf(REPLACEMENT)
  if (index < 0) return undefined
  const character = [...text.slice(0, index)].length + 1
  return new UsageError(
    `${what} holds U+FFFD (character ${character}), which is what a byte that is not UTF-8 becomes in ${from} (a terminal or script in another encoding, such as LATIN1): it would be used changed, so nothing was done. Use UTF-8 in the terminal or script${itself === undefined ? '' : `; ${itself}`}`,
  )
}

/** How to give U+FFFD itself in an argument or option, by its name, where there is a way. */
function itselfIn(name: string): string | undefined {
  // notify's payload: stdin is taken as it is (bytes that are not UTF-8 are refused there).
  if (name === 'payload') return 'to send U+FFFD itself, give the payload on stdin'
  // sql changes' --when, --when-insert, ...: an SQL condition can write it with an escape.
  if (name.startsWith('--when')) return "to mean U+FFFD itself in the condition, write U&'\\FFFD'"
  return undefined
}

/** `2nd `, `3rd `, `11th `; nothing for the first. */
function ordinal(n: number): string {
  if (n === 1) return ''
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th'
  return `${n}${suffix} `
}

/**
 * Makes every argument and every option with a value, in `command` and its subcommands, refuse a value holding
 * U+FFFD, as it is parsed (before any action). Applied before `refuseRepeatedOptions`, which then refuses an
 * option given twice first.
 */
export function refuseReplacementCharacters(command: Command): void {
  for (const argument of command.registeredArguments) {
    const parse = argument.parseArg
    const name = argument.name()
    argument.argParser((value: string, previous: unknown) => {
      // A variadic argument's values come one at a time, `previous` holding those before (commander's own
      // collecting, done here since a parser is set).
      const before = argument.variadic && Array.isArray(previous) ? previous.length : 0
      const problem = replacementCharacterProblem(value, `the ${ordinal(before + 1)}${name} argument`, undefined, itselfIn(name))
      if (problem) throw problem
      if (parse !== undefined) return parse(value, previous)
      return argument.variadic ? [...(Array.isArray(previous) ? (previous as unknown[]) : []), value] : value
    })
  }
  for (const option of command.options) {
    if (!(option.required || option.optional)) continue
    const parse = option.parseArg
    const name = option.long ?? option.flags
    let given = 0
    option.argParser((value: string, previous: unknown) => {
      given += 1
      const problem = replacementCharacterProblem(value, `${given === 1 ? '' : 'the '}${ordinal(given)}${name}`, undefined, itselfIn(name))
      if (problem) throw problem
      if (parse !== undefined) return parse(value, previous)
      return option.variadic ? [...(Array.isArray(previous) ? (previous as unknown[]) : []), value] : value
    })
  }
  for (const subcommand of command.commands) refuseReplacementCharacters(subcommand)
}
