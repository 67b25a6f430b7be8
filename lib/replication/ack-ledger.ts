import { Deque } from '../notify/deque.js'
import type { DeliveredPosition } from './change-assembler.js'
import { InvalidReplicationTokenError } from './errors.js'
import { maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import { comparePositions, decodeToken, type Position } from './position.js'

/**
 * What has been delivered and what the user acknowledged, in stream order. An acknowledgement is cumulative
 * (it covers everything delivered before it) and moves the flush position the slot is told: the acknowledged
 * position's resume LSN, so the slot keeps exactly what a restart needs to deliver what comes after it.
 */
export class AckLedger {
  private readonly unacknowledged = new Deque<DeliveredPosition>()
  private acknowledged: Position | undefined
  private flushed: Lsn = ZERO_LSN
  private lastDelivered: DeliveredPosition | undefined
  private acknowledgedCount = 0

  /** The slot's tag; tokens of another slot are refused. Set when a session tells the server. */
  tag: string | undefined

  /** The stream starts after `position` (a resume token): that much is acknowledged already. */
  startAfter(position: Position): void {
    this.acknowledged = position
    this.flushed = maxLsn(this.flushed, position.resume)
  }

  /** The slot has confirmed `lsn` already: never report less. */
  raiseFloor(lsn: Lsn): void {
    this.flushed = maxLsn(this.flushed, lsn)
  }

  delivered(position: DeliveredPosition): void {
    this.unacknowledged.push(position)
    this.lastDelivered = position
  }

  /** Items delivered and not acknowledged. */
  get pending(): number {
    return this.unacknowledged.length
  }

  get acknowledgedItems(): number {
    return this.acknowledgedCount
  }

  /** The last position acknowledged (or the one the stream started after), if any. */
  get lastAcknowledged(): Position | undefined {
    return this.acknowledged
  }

  /** The flush position to report: the resume LSN of what is acknowledged. */
  get flushLsn(): Lsn {
    return this.flushed
  }

  /**
   * Acknowledges `token` and everything delivered before it. An older position than one acknowledged is a
   * no-op. Throws `InvalidReplicationTokenError` for a token that is not one, of another slot, or past what
   * this stream delivered.
   */
  ack(token: string): void {
    const queue = this.unacknowledged
    // The usual case: the token of an item delivered and not yet acknowledged, found by identity from the front.
    for (let index = 0; index < queue.length; index++) {
      if ((queue.at(index) as DeliveredPosition).token === token) return this.acknowledgeThrough(index)
    }
    const { tag, position } = decodeToken(token)
    if (this.tag !== undefined && tag !== this.tag) {
      throw new InvalidReplicationTokenError({ token, reason: 'other-slot', detail: 'it was issued for another slot or server' })
    }
    if (this.lastDelivered === undefined || comparePositions(position, this.lastDelivered) > 0) {
      if (this.acknowledged !== undefined && comparePositions(position, this.acknowledged) <= 0) return
      throw new InvalidReplicationTokenError({ token, reason: 'not-delivered', detail: 'this stream has not delivered that position yet' })
    }
    // A position between delivered items (or before them): everything up to it.
    let through = -1
    while (through + 1 < queue.length && comparePositions(queue.at(through + 1) as DeliveredPosition, position) <= 0) through++
    if (through >= 0) this.acknowledgeThrough(through)
  }

  private acknowledgeThrough(index: number): void {
    let position: DeliveredPosition | undefined
    for (let count = 0; count <= index; count++) position = this.unacknowledged.shift()
    this.acknowledgedCount += index + 1
    this.acknowledged = position as DeliveredPosition
    this.flushed = maxLsn(this.flushed, (position as DeliveredPosition).resume)
  }
}
