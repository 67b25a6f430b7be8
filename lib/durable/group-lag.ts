/**
 * How far a consumer group is behind: per partition, the messages after its cursor, the oldest one's time, and
 * who holds its lease. What a job queue's "queue size" tells, for a group whose handler is slow, stuck or gone.
 */
import type { LogContext } from './log-context.js'
import { encodeToken } from './position.js'
import type { GroupLag, PartitionLag } from './types.js'

/** As pg parses them: int and float8 as numbers, boolean as boolean, bigint and text as strings. */
interface LagRow {
  readonly part: number
  readonly epoch: number
  readonly tx: string
  readonly id: string
  readonly expired: boolean
  readonly owner: string | null
  readonly lease_ms: number | null
  readonly waiting: string
  readonly oldest_ms: number | null
}

const dateOf = (ms: number | null) => (ms === null ? undefined : new Date(ms))

export async function groupLag(context: LogContext, channel: string, group: string): Promise<GroupLag> {
  const meta = await context.meta()
  const rows = await context.query<LagRow>('groupLag', context.queries.groupLag, [channel, group])
  const partitions = rows.map(
    (row): PartitionLag => ({
      partition: row.part,
      waiting: Number(row.waiting),
      oldestAppendedAt: dateOf(row.oldest_ms),
      cursor: encodeToken(meta.logId, { epoch: row.epoch, tx: BigInt(row.tx), id: BigInt(row.id) }),
      expired: row.expired,
      owner: row.owner ?? undefined,
      leaseExpiresAt: dateOf(row.lease_ms),
    }),
  )
  const oldest = partitions.reduce<Date | undefined>((min, p) => (p.oldestAppendedAt !== undefined && (min === undefined || p.oldestAppendedAt < min) ? p.oldestAppendedAt : min), undefined)
  return { waiting: partitions.reduce((sum, p) => sum + p.waiting, 0), oldestAppendedAt: oldest, expired: partitions.some((p) => p.expired), partitions }
}
