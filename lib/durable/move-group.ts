/**
 * Moving a consumer group's cursors: after `CursorExpiredError` (the group fell behind the retention), to skip a
 * backlog, or to process messages again. Every partition moves to the same position, and every lease is taken
 * away at once, so no member commits a batch read from the old cursors (its ack is stale): the group's members
 * carry on from the new position at their next takeover, within a third of their `leaseTtl`.
 */
import { CursorExpiredError } from './errors.js'
import type { LogContext } from './log-context.js'
import { aheadOfDatabase, channelEnds, laterOf, startOf } from './page.js'
import { comparePositions, encodeToken, positionParams, START } from './position.js'
import type { StartPosition } from './types.js'

/** Moves the group; resolves with the token of the position it moved to (what the group goes on after). */
export async function moveGroup(context: LogContext, channel: string, group: string, to: StartPosition): Promise<string> {
  const operation = 'moveGroup'
  const meta = await context.meta()
  // A channel no log has used has no partition count yet: registering it here would fix the default one, and a
  // log of the application's configured otherwise would then find it taken.
  const [known] = await context.query<{ partitions: number }>(operation, context.queries.channelPartitionsKnown, [channel])
  if (known === undefined) {
    throw new RangeError(
      `rxpg/durable: moveGroup: durable channel ${JSON.stringify(channel)} has never been used (no message appended, no consumer): there is no group to move; a group that starts later starts at its consume option from`,
    )
  }
  const ends = await channelEnds(context, channel, operation)
  // 'earliest' is the first message kept: right after what retention dropped, so the group is not expired there.
  const position = to === 'earliest' ? (ends.expired ?? START) : to === 'now' ? (laterOf(ends.newest, ends.expired) ?? START) : (await startOf(context, meta, channel, to, operation)).position
  const token = encodeToken(meta.logId, position)
  // Never a silent skip, nor a group parked past everything (a mistyped token): refused, as a read from there would be.
  const ahead = aheadOfDatabase(position, ends.epoch, ends.xmax, token)
  if (ahead !== undefined) throw ahead
  if (ends.expired !== undefined && comparePositions(ends.expired, position) > 0) throw new CursorExpiredError({ channel, token, group })
  // A group that never ran gets its cursors first (at the position), then every cursor moves there.
  await context.query(operation, context.queries.joinGroup, [channel, group, known.partitions, ...positionParams(position)])
  await context.query(operation, context.queries.moveGroup, [channel, group, ...positionParams(position)])
  return token
}
