import { Subscriber } from 'rxjs'
import { ConnectionLostError } from '../errors.js'
import type { ListenSession, RawNotification } from '../ports/notification-source.js'

/**
 * Hands one session's notifications to the router, stamped with when the session received them. The hot path,
 * so a Subscriber of its own: RxJS uses a Subscriber as it is, where it would wrap an observer object in two
 * more layers (a try/catch each) for every notification.
 */
export class DeliverySubscriber extends Subscriber<RawNotification> {
  constructor(
    private readonly session: ListenSession,
    private readonly deliver: (notification: RawNotification, receivedAt: number) => void,
    /** The connection was lost (the notifications errored or ended). */
    private readonly lost: (error: unknown) => void,
  ) {
    super()
  }

  protected override _next(notification: RawNotification): void {
    this.deliver(notification, this.session.lastReceivedAt())
  }

  protected override _error(error: unknown): void {
    this.unsubscribe()
    this.lost(error)
  }

  protected override _complete(): void {
    this.unsubscribe()
    this.lost(new ConnectionLostError({ detail: 'the connection ended' }))
  }
}
