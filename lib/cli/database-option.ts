/** `--url`, or DATABASE_URL: where the commands that talk to PostgreSQL connect. */
import { Option, type Command } from 'commander'
import { replacementCharacterProblem } from './argument-encoding.js'
import { UsageError } from './exit-codes.js'

export interface DatabaseOptions {
  readonly url?: string | undefined
}

export function withDatabaseOption(command: Command): Command {
  return command.addOption(new Option('--url <url>', 'the PostgreSQL connection string (default: $DATABASE_URL)'))
}

/** The connection string to use; a usage error (`missing`) when there is none, or when it is not one. */
export function databaseUrlOf(options: DatabaseOptions, missing = 'no database: pass --url or set DATABASE_URL'): string {
  // An empty --url is a mistake (an unset variable in a script), not a request for DATABASE_URL.
  if (options.url === '') throw new UsageError('--url is empty: give a connection string, or leave --url out to use DATABASE_URL')
  const url = options.url ?? process.env.DATABASE_URL
  if (url === undefined || url === '') throw new UsageError(missing)
  // --url's value is checked as every argument is (argument-encoding.ts); Node decodes the environment as it does
  // the arguments. Said without the value: it may hold a password.
  if (options.url === undefined) {
    const problem = replacementCharacterProblem(url, 'DATABASE_URL', "a command's arguments and environment")
    if (problem) throw problem
  }
  // pg reads anything else as a path relative to a made-up host, and the command would wait for it to answer.
  if (!/^(postgres|postgresql|socket):/i.test(url) && !url.startsWith('/')) {
    const source = options.url === undefined ? 'DATABASE_URL' : '--url'
    throw new UsageError(`${source} is not a PostgreSQL connection string: it must start with postgres:// or postgresql:// (postgres://user:password@host:5432/database), or be a socket path`)
  }
  return url
}
