/**
 * The consumer-group partition of a message: FNV-1a (32-bit) of the key's UTF-8 bytes, modulo the channel's
 * partition count. Any process computes the same partition for the same key, so one key always lands in one
 * partition and keeps its order. A message without a key goes to a random partition (no order to keep).
 */
export function partitionOfKey(key: string | undefined, partitions: number): number {
  if (key === undefined) return Math.floor(Math.random() * partitions)
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % partitions
}
