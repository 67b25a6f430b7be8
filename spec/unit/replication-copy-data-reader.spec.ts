/**
 * The replication connection's reader of CopyData messages (lib/replication/pg/copy-data-reader.ts): whatever
 * the reads' boundaries, every CopyData payload goes to the decoder and every other message to pg's parser,
 * whole, in the order they came.
 */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { takeOverCopyData } from '../../lib/replication/pg/copy-data-reader.js'

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeUInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

/** A CopyBoth session as the server sends it: the start, CopyData of all sizes, a notice, the end, ReadyForQuery. */
const session = [
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
const bytes = Buffer.concat(session)

/** Feeds `reads` to a stream whose one 'data' listener stands for pg's parser; what each side got, in order. */
function read(reads: readonly Buffer[]) {
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
  const reader = takeOverCopyData(
    stream,
    (buffer, start, end) => events.push(`d:${buffer.subarray(start, end).toString('latin1')}`),
    () => (readsSeen += 1),
  )
  expect(reader).toBeDefined()
  for (const chunk of reads) stream.emit('data', chunk)
  return { events, readsSeen }
}

const expected = session.map((whole) => {
  const type = String.fromCharCode(whole[0] as number)
  return type === 'd' ? `d:${whole.subarray(5).toString('latin1')}` : `pg:${type}:${whole.toString('hex')}`
})

describe('replication CopyData reader', () => {
  it('hands on every message whole and in order when it all comes in one read', () => {
    expect(read([bytes])).toEqual({ events: expected, readsSeen: 1 })
  })

  it('hands on every message whole and in order whatever byte a read ends at (one split, then every byte a read)', () => {
    for (let at = 1; at < bytes.length; at += at < 200 ? 1 : 997) {
      expect(read([bytes.subarray(0, at), bytes.subarray(at)]).events).toEqual(expected)
    }
    const oneByteReads = Array.from({ length: bytes.length }, (_, at) => bytes.subarray(at, at + 1))
    expect(read(oneByteReads)).toEqual({ events: expected, readsSeen: bytes.length })
  })

  it("leaves a stream alone whose 'data' listeners are not pg's one parser", () => {
    const stream = new Readable({ read() {} })
    const first = () => undefined
    stream.on('data', first)
    stream.on('data', () => undefined)
    expect(takeOverCopyData(stream, () => undefined, () => undefined)).toBeUndefined()
    expect(stream.listeners('data')[0]).toBe(first)
    expect(takeOverCopyData(new Readable({ read() {} }), () => undefined, () => undefined)).toBeUndefined()
  })

  it('stops reading a read once the stream is destroyed by a message in it', () => {
    const stream = new Readable({ read() {} })
    stream.on('data', () => undefined)
    const payloads: string[] = []
    takeOverCopyData(
      stream,
      (buffer, start, end) => {
        payloads.push(buffer.subarray(start, end).toString())
        stream.destroy()
      },
      () => undefined,
    )
    stream.emit('data', Buffer.concat([message('d', Buffer.from('bad')), message('d', Buffer.from('after'))]))
    expect(payloads).toEqual(['bad'])
  })
})
