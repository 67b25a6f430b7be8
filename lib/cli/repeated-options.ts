/**
 * Options given more than once. Commander keeps the last value of an option given twice, without a word: `rxpg
 * sql changes --key id --key tenant` made a feed keyed on `tenant` alone. A list option (`listOption`) takes
 * every occurrence, each comma-separated; any other option with a value given twice is a usage error (exit 2).
 */
import { Option, type Command } from 'commander'

const lists = new WeakSet<Option>()

/**
 * An option whose occurrences add up to one list; each a comma-separated list unless `split` is false (a table
 * name may hold a comma): `--key a --key b` is `--key a,b`.
 */
export function listOption(flags: string, description: string, split = true): Option {
  const option = new Option(flags, description).argParser((value: string, previous: string[] | undefined) => [
    ...(previous ?? []),
    ...(split ? value.split(',').map((item) => item.trim()) : [value]),
  ])
  lists.add(option)
  return option
}

/**
 * Makes every other option with a value, in `command` and its subcommands, refuse a second occurrence. Said
 * without the value: commander's "option '--url <url>' argument '…' is invalid" quoted it, and a --url given
 * twice printed its password.
 */
export function refuseRepeatedOptions(command: Command): void {
  for (const option of command.options) {
    if (!(option.required || option.optional) || option.variadic || lists.has(option)) continue
    const parse = option.parseArg
    let given = false
    option.argParser((value: string, previous: unknown) => {
      if (given) command.error(`${option.long ?? option.flags} is given twice; give it once`, { exitCode: 2, code: 'rxpg.repeatedOption' })
      given = true
      return parse === undefined ? value : parse(value, previous)
    })
  }
  for (const subcommand of command.commands) refuseRepeatedOptions(subcommand)
}
