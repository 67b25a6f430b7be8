/**
 * `rxpg sql <feature>`: prints the SQL a feature installs, for migrations (`rxpg sql durable | psql`).
 */
import type { Command } from 'commander'
import { DEFAULT_SCHEMA, durableSchemaSql } from '../../durable/index.js'
import type { CliOutput } from '../program.js'

export function registerSqlCommand(program: Command, output: CliOutput): void {
  const sql = program.command('sql').description('Print the SQL that installs a feature (for your migrations).')
  sql
    .command('durable')
    .description('The tables and functions of durable channels (rxpg/durable): idempotent, versioned.')
    .option('--schema <name>', 'the schema to install into', DEFAULT_SCHEMA)
    .action((options: { schema: string }) => {
      output.out(durableSchemaSql({ schema: options.schema }))
    })
}
