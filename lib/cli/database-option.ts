/** `--url`, or DATABASE_URL: where the commands that talk to PostgreSQL connect. */
import { Option, type Command } from 'commander'
import { UsageError } from './exit-codes.js'

export interface DatabaseOptions {
  readonly url?: string
}

export function withDatabaseOption(command: Command): Command {
  return command.addOption(new Option('--url <url>', 'the PostgreSQL connection string (default: $DATABASE_URL)'))
}

/** The connection string to use; a usage error when there is none. */
export function databaseUrlOf(options: DatabaseOptions): string {
  const url = options.url ?? process.env.DATABASE_URL
  if (url === undefined || url === '') throw new UsageError('no database: pass --url or set DATABASE_URL')
  return url
}
