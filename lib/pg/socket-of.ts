import type { Socket } from 'node:net'
import type pg from 'pg'

/** The socket under a pg client (pg keeps it on its connection), to destroy it without waiting on the server. */
export function socketOf(client: pg.ClientBase): Socket | undefined {
  return (client as unknown as { connection?: { stream?: Socket | undefined } | undefined }).connection?.stream
}
