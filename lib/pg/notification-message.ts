import type { RawNotification } from '../ports/notification-source.js'

/**
 * A NotificationResponse message's body (`buffer` from `start` to `end`): the sender's backend process id
 * (Int32), then the channel and the payload, each a NUL-terminated string (UTF-8, pg's client encoding). Read
 * into the three fields rxpg uses, with what pg-protocol reads them with (`readInt32BE`, `toString('utf8')`).
 */
export function readNotification(buffer: Buffer, start: number, end: number): RawNotification {
  // The channel is a name of at most 63 bytes: a loop finds its end sooner than a call into C++ would.
  let channelEnd = start + 4
  while (channelEnd < end && buffer[channelEnd] !== 0) channelEnd++
  // The payload runs to the message's last byte, its NUL.
  return {
    channel: buffer.toString('utf8', start + 4, channelEnd),
    payload: buffer.toString('utf8', channelEnd + 1, end - 1),
    processId: buffer.readInt32BE(start),
  }
}
