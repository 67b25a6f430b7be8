import type { PgConnectionConfig } from '../pg/config.js'
import { withClient } from './with-client.js'

/** A slot as the server sees it: what it pins, and whether it is still usable. */
export interface SlotStatus {
  readonly slot: string
  readonly active: boolean
  readonly activePid?: number | undefined
  /** `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+; undefined before). */
  readonly walStatus?: string | undefined
  /** The position the consumer confirmed, as `X/Y`. */
  readonly confirmedLsn: string
  /** WAL bytes between the confirmed position and the server's current one: not yet acknowledged. */
  readonly unconfirmedBytes: number
  /** WAL bytes the slot keeps on disk (from its restart position). */
  readonly retainedBytes: number
  /** How many more bytes may be written before the slot is lost to `max_slot_wal_keep_size` (13+; undefined when unlimited). */
  readonly safeWalSize?: number | undefined
}

/** Reads a slot's status from `pg_replication_slots` on a short-lived connection; undefined when it does not exist. */
export async function readSlotStatus(config: PgConnectionConfig, slot: string): Promise<SlotStatus | undefined> {
  return withClient(config, async (client) => {
    const { rows } = await client.query<{ s: Record<string, unknown>; current: string; unconfirmed: string | null; retained: string | null }>({
      text: `SELECT to_jsonb(s) AS s, pg_current_wal_lsn()::text AS current,
         pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::text AS unconfirmed,
         pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::text AS retained
       FROM pg_replication_slots s WHERE s.slot_name = $1`,
      // Read with rxpg's own parsers (withClient), whatever the application set (a jsonb kept as text).
      values: [slot],
    })
    const row = rows[0]
    if (row === undefined) return undefined
    const s = row.s
    return {
      slot,
      active: s.active === true,
      ...(typeof s.active_pid === 'number' ? { activePid: s.active_pid } : {}),
      ...(typeof s.wal_status === 'string' ? { walStatus: s.wal_status } : {}),
      confirmedLsn: typeof s.confirmed_flush_lsn === 'string' ? s.confirmed_flush_lsn : '0/0',
      unconfirmedBytes: Number(row.unconfirmed ?? 0),
      retainedBytes: Number(row.retained ?? 0),
      ...(typeof s.safe_wal_size === 'number' ? { safeWalSize: s.safe_wal_size } : {}),
    }
  })
}
