/**
 * NotificationResponse bodies read by rxpg (lib/pg/notification-message.ts), compared field by field with what
 * pg's own protocol parser (pg-protocol, as pg uses it) reads from the same bytes.
 */
import { PassThrough } from 'node:stream'
import { parse } from 'pg-protocol'
import { describe, expect, it } from 'vitest'
import { readNotification } from '../../lib/pg/notification-message.js'

function notificationMessage(processId: number, channel: string, payload: string): Buffer {
  const body = Buffer.concat([Buffer.alloc(4), Buffer.from(`${channel}\0${payload}\0`)])
  body.writeInt32BE(processId)
  const header = Buffer.from([0x41, 0, 0, 0, 0])
  header.writeUInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

/** What pg-protocol makes of `message`. */
async function pgReads(message: Buffer): Promise<{ channel: string; payload: string; processId: number }> {
  const stream = new PassThrough()
  const read = new Promise<{ channel: string; payload: string; processId: number }>((resolve) => {
    void parse(stream, (parsed) => {
      const { channel, payload, processId } = parsed as unknown as { channel: string; payload: string; processId: number }
      resolve({ channel, payload, processId })
    })
  })
  stream.end(message)
  return read
}

const cases: Array<[string, number, string, string]> = [
  ['plain JSON', 4242, 'orders', '{"id":1,"total":12.5}'],
  ['an empty payload', 1, 'orders', ''],
  ['a 63-byte name', 2_147_483_647, 'n'.repeat(63), 'x'],
  ['a multibyte name and payload', 7, 'commandes_été', 'Größe ✓ 日本 🎉'],
  ['a 7999-byte payload', 99, 'big', 'é'.repeat(3999) + 'a'],
  ['a payload with newlines and quotes', 5, 'Mixed Case', 'line 1\nline "2"\r\n'],
]

describe('readNotification', () => {
  it.each(cases)('reads %s as pg-protocol does', async (_, processId, channel, payload) => {
    const message = notificationMessage(processId, channel, payload)
    // In the middle of a larger read, as it lies in a socket's chunk.
    const chunk = Buffer.concat([Buffer.from('before'), message, Buffer.from('after')])
    const read = readNotification(chunk, 6 + 5, 6 + message.length)
    expect(read).toEqual({ channel, payload, processId })
    expect(read).toEqual(await pgReads(message))
  })
})
