/**
 * A named statement the server connection does not have (26000) or already has (42P05): what a
 * transaction-mode pooler without prepared-statement support (PgBouncer before 1.21) gives, since each statement
 * may run on another server connection than pg prepared it on. The statement never ran: safe to run again,
 * unnamed. The notify transport and the durable log both do so, and send unnamed statements from then on.
 */
export const STATEMENT_NAME_SQLSTATES: ReadonlySet<string> = new Set(['26000', '42P05'])
