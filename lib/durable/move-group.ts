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

/** Moves the group (one that has run); resolves with the token of the position it moved to (what the group goes on after). */
export async function moveGroup(context: LogContext, channel: string, group: string, to: StartPosition): Promise<string> {
  const operation = 'moveGroup'
  const meta = await context.meta()
  const ends = await channelEnds(context, channel, operation)
  // 'earliest' is the first message kept: right after what retention dropped, so the group is not expired there.
  const position = to === 'earliest' ? (ends.expired ?? START) : to === 'now' ? (laterOf(ends.newest, ends.expired) ?? START) : (await startOf(context, meta, channel, to, operation)).position
  const token = encodeToken(meta.logId, position)
  // Never a silent skip, nor a group parked past everything (a mistyped token): refused, as a read from there would be.
  const ahead = aheadOfDatabase(position, ends.epoch, ends.xmax, token)
  if (ahead !== undefined) throw ahead
  if (ends.expired !== undefined && comparePositions(ends.expired, position) > 0) throw new CursorExpiredError({ channel, token, group })
  // At READ COMMITTED: a cursor row that a member's ack or renewal is updating is moved once that commits
  // (REPEATABLE READ would fail with 40001).
  const moved = await context.queryReadCommitted(operation, context.queries.moveGroup, [channel, group, ...positionParams(position)])
  // Only a group that has run is moved: a mistyped name would otherwise make a new group (and, on a channel no log
  // has used, fix its partition count). A new group starts where its consume option from says.
  if (moved.length === 0) {
    throw new RangeError(
      `rxpg/durable: moveGroup: consumer group ${JSON.stringify(group)} of durable channel ${JSON.stringify(channel)} has never run (it has no cursors): there is nothing to move; a new group starts where consume's from option says`,
    )
  }
  return token
}
