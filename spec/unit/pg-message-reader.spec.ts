/**
 * The reader of one message type ahead of pg's parser (lib/pg/message-reader.ts), as the replication connection
 * (CopyData) and the listener (NotificationResponse) use it: whatever the reads' boundaries, every message of the
 * type goes to its handler and every other message to pg's parser, whole, in the order they came.
 */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { COPY_DATA, NOTIFICATION_RESPONSE, takeOverMessages } from '../../lib/pg/message-reader.js'
import { protocolMessage as message } from '../support/protocol-message.js'

/** A CopyBoth session as the server sends it: the start, CopyData of all sizes, a notice, the end, ReadyForQuery. */
const copySession = [
  message('W', Buffer.from([0, 0, 0])),
  message('d', Buffer.from('w first change')),
  message('d', Buffer.alloc(0)),
  message('d', Buffer.alloc(70_000, 7)),
  message('N', Buffer.from('SNOTICE\0\0')),
  message('d', Buffer.from('k keepalive')),
  message('c', Buffer.alloc(0)),
  message('C', Buffer.from('COPY 0\0')),
  message('Z', Buffer.from('I')),
]

function notification(processId: number, channel: string, payload: string): Buffer {
  const id = Buffer.alloc(4)
  id.writeInt32BE(processId)
  return message('A', Buffer.concat([id, Buffer.from(`${channel}\0${payload}\0`)]))
}

/** A listening connection: notifications before, between and after a query's answer, one of 7999 bytes. */
const listenSession = [
  notification(41, 'orders', '{"id":1}'),
  message('C', Buffer.from('LISTEN\0')),
  notification(41, 'x'.repeat(63), 'é'.repeat(3999) + 'a'),
  message('Z', Buffer.from('I')),
  message('T', Buffer.from([0, 0])),
  notification(42, 'orders', ''),
  message('C', Buffer.from('SELECT 1\0')),
  message('Z', Buffer.from('I')),
  notification(43, 'orders', 'last'),
]

const sessions = [
  { name: 'CopyData', type: COPY_DATA, messages: copySession },
  { name: 'NotificationResponse', type: NOTIFICATION_RESPONSE, messages: listenSession },
]

/** Feeds `reads` to a stream whose one 'data' listener stands for pg's parser; what each side got, in order. */
function read(type: number, reads: readonly Buffer[]) {
  const events: string[] = []
  const stream = new Readable({ read() {} })
  // pg's parser is handed whole messages only: each recorded as it arrives, in its place among CopyData.
  stream.on('data', (chunk: Buffer) => {
    for (let at = 0; at < chunk.length; ) {
      const end = at + 1 + chunk.readUInt32BE(at + 1)
      events.push(`pg:${String.fromCharCode(chunk[at] as number)}:${chunk.subarray(at, end).toString('hex')}`)
      at = end
    }
  })
  let readsSeen = 0
  const reader = takeOverMessages(
    stream,
    type,
    (buffer, start, end) => events.push(`handler:${buffer.subarray(start, end).toString('latin1')}`),
    () => (readsSeen += 1),
  )
  expect(reader).toBeDefined()
  for (const chunk of reads) stream.emit('data', chunk)
  return { events, readsSeen }
}

function expectedOf(type: number, messages: readonly Buffer[]): string[] {
  return messages.map((whole) =>
    whole[0] === type ? `handler:${whole.subarray(5).toString('latin1')}` : `pg:${String.fromCharCode(whole[0] as number)}:${whole.toString('hex')}`,
  )
}

describe.each(sessions)('reader of $name messages', ({ type, messages }) => {
  const bytes = Buffer.concat(messages)
  const expected = expectedOf(type, messages)

  it('hands on every message whole and in order when it all comes in one read', () => {
    expect(read(type, [bytes])).toEqual({ events: expected, readsSeen: 1 })
  })

  it('hands on every message whole and in order whatever byte a read ends at (one split, then every byte a read)', () => {
    for (let at = 1; at < bytes.length; at += at < 200 ? 1 : 997) {
      expect(read(type, [bytes.subarray(0, at), bytes.subarray(at)]).events).toEqual(expected)
    }
    const oneByteReads = Array.from({ length: bytes.length }, (_, at) => bytes.subarray(at, at + 1))
    expect(read(type, oneByteReads)).toEqual({ events: expected, readsSeen: bytes.length })
  })
})

describe('message reader', () => {
  it("leaves a stream alone whose 'data' listeners are not pg's one parser", () => {
    const stream = new Readable({ read() {} })
    const first = () => undefined
    stream.on('data', first)
    stream.on('data', () => undefined)
    expect(takeOverMessages(stream, COPY_DATA, () => undefined)).toBeUndefined()
    expect(stream.listeners('data')[0]).toBe(first)
    expect(takeOverMessages(new Readable({ read() {} }), COPY_DATA, () => undefined)).toBeUndefined()
  })

  it('stops reading a read once the stream is destroyed by a message in it', () => {
    const stream = new Readable({ read() {} })
    stream.on('data', () => undefined)
    const payloads: string[] = []
    takeOverMessages(
      stream,
      COPY_DATA,
      (buffer, start, end) => {
        payloads.push(buffer.subarray(start, end).toString())
        stream.destroy()
      },
      () => undefined,
    )
    stream.emit('data', Buffer.concat([message('d', Buffer.from('bad')), message('d', Buffer.from('after')), message('d', Buffer.from('more'))]))
    expect(payloads).toEqual(['bad'])
    // A destroyed socket may still emit what it had buffered (a resume scheduled before the destroy flows it):
    // those reads are not read, and what the destroying read left is not kept as a message begun.
    expect(() => stream.emit('data', message('d', Buffer.from('buffered')))).not.toThrow()
    expect(payloads).toEqual(['bad'])
  })
})
