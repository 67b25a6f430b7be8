/**
 * Moving a consumer group's cursors: after `CursorExpiredError` (the group fell behind the retention), to skip a
 * backlog, or to process messages again. Every partition moves to the same position, and every lease is taken
 * away at once, so no member commits a batch read from the old cursors (its ack is stale): the group's members
 * carry on from the new position at their next takeover, within a third of their `leaseTtl`.
 */
import { CursorExpiredError } from './errors.js'
import type { LogContext } from './log-context.js'
import { channelEnds, startOf } from './page.js'
import { comparePositions, encodeToken, positionParams, START } from './position.js'
import type { StartPosition } from './types.js'

export async function moveGroup(context: LogContext, channel: string, group: string, to: StartPosition): Promise<void> {
  const operation = 'moveGroup'
  const meta = await context.meta()
  const { expired } = await channelEnds(context, channel, operation)
  // 'earliest' is the first message kept: right after what retention dropped, so the group is not expired there.
  const position = to === 'earliest' ? (expired ?? START) : (await startOf(context, meta, channel, to, operation)).position
  // Never a silent skip: a position retention dropped messages after is refused, as a group's cursor there would be.
  if (expired !== undefined && comparePositions(expired, position) > 0) throw new CursorExpiredError({ channel, token: encodeToken(meta.logId, position), group })
  const partitions = await context.partitionsOf(channel)
  // A group that never ran gets its cursors first (at the position), then every cursor moves there.
  await context.query(operation, context.queries.joinGroup, [channel, group, partitions, ...positionParams(position)])
  await context.query(operation, context.queries.moveGroup, [channel, group, ...positionParams(position)])
}
