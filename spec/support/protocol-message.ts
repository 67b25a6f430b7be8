/** A PostgreSQL backend message as it comes on the wire: its type byte, its length (counting itself), its body. */
export function protocolMessage(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeUInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}
