import { Deque } from '../notify/deque.js'
import type { DeliveredPosition } from './change-assembler.js'
import { InvalidReplicationTokenError } from './errors.js'
import { maxLsn, ZERO_LSN, type Lsn } from './lsn.js'
import { comparePositions, decodeToken, type Position } from './position.js'

/** A position passed on and not yet acknowledged; `refused`: a refused change's, passed to `onInvalid`. */
interface Passed {
  readonly position: DeliveredPosition
  readonly refused: boolean
}

/**
 * What has been delivered and what the user acknowledged, in stream order. An acknowledgement is cumulative
 * (it covers everything delivered before it) and moves the flush position the slot is told: the acknowledged
 * position's resume LSN, so the slot keeps exactly what a restart needs to deliver what comes after it.
 *
 * A refused change passed to `onInvalid` has its place here too, so that its position can be acknowledged (and
 * acknowledges what came before it), but it is no delivered item: it is not counted in `pending` (nor by flow
 * control, which it would stall: a consumer that acknowledges only the changes it gets would never free its
 * room) nor in `acknowledgedItems`.
 */
export class AckLedger {
  private readonly unacknowledged = new Deque<Passed>()
  /** Delivered items in `unacknowledged` (not refused changes). */
  private pendingItems = 0
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
    this.unacknowledged.push({ position, refused: false })
    this.pendingItems += 1
    this.lastDelivered = position
  }

  /** A refused change passed to `onInvalid`: acknowledgeable from now on, in its place, but not a pending item. */
  refused(position: DeliveredPosition): void {
    this.unacknowledged.push({ position, refused: true })
    this.lastDelivered = position
  }

  /** Items delivered and not acknowledged. */
  get pending(): number {
    return this.pendingItems
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
   * Acknowledges `token` and everything delivered (or refused) before it. An older position than one
   * acknowledged is a no-op. Throws `InvalidReplicationTokenError` for a token that is not one, of another
   * slot, or past what this stream delivered or passed to `onInvalid`.
   */
  ack(token: string): void {
    const queue = this.unacknowledged
    // The usual case: the token of an item delivered and not yet acknowledged, found by identity from the front.
    for (let index = 0; index < queue.length; index++) {
      if ((queue.at(index) as Passed).position.token === token) return this.acknowledgeThrough(index)
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
    while (through + 1 < queue.length && comparePositions((queue.at(through + 1) as Passed).position, position) <= 0) through++
    if (through >= 0) this.acknowledgeThrough(through)
  }

  private acknowledgeThrough(index: number): void {
    let passed: Passed | undefined
    for (let count = 0; count <= index; count++) {
      passed = this.unacknowledged.shift() as Passed
      if (passed.refused) continue
      this.pendingItems -= 1
      this.acknowledgedCount += 1
    }
    const { position } = passed as Passed
    this.acknowledged = position
    this.flushed = maxLsn(this.flushed, position.resume)
  }
}
