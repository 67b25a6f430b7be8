/**
 * How far a consumer group is behind: per partition, the messages after its cursor, the oldest one's time, and
 * who holds its lease. What a job queue's "queue size" tells, for a group whose handler is slow, stuck or gone.
 */
import type { LogContext } from './log-context.js'
import { encodeToken } from './position.js'
import type { GroupLag, PartitionLag } from './types.js'

interface LagRow {
  readonly part: string
  readonly epoch: string
  readonly tx: string
  readonly id: string
  readonly owner: string | null
  readonly lease_ms: string | null
  readonly waiting: string
  readonly oldest_ms: string | null
}

const dateOf = (ms: string | null) => (ms === null ? undefined : new Date(Number(ms)))

export async function groupLag(context: LogContext, channel: string, group: string): Promise<GroupLag> {
  const meta = await context.meta()
  const rows = await context.query<LagRow>('groupLag', context.queries.groupLag, [channel, group])
  const partitions = rows.map(
    (row): PartitionLag => ({
      partition: Number(row.part),
      waiting: Number(row.waiting),
      oldestAppendedAt: dateOf(row.oldest_ms),
      cursor: encodeToken(meta.logId, { epoch: Number(row.epoch), tx: BigInt(row.tx), id: BigInt(row.id) }),
      owner: row.owner ?? undefined,
      leaseExpiresAt: dateOf(row.lease_ms),
    }),
  )
  const oldest = partitions.reduce<Date | undefined>((min, p) => (p.oldestAppendedAt !== undefined && (min === undefined || p.oldestAppendedAt < min) ? p.oldestAppendedAt : min), undefined)
  return { waiting: partitions.reduce((sum, p) => sum + p.waiting, 0), oldestAppendedAt: oldest, partitions }
}
