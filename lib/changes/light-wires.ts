/**
 * @internal The light carrier: each change is the payload of a notification on the feed's channel, at most
 * once (what is committed while the listener is reconnecting is not delivered: see the listener's gaps).
 */
import { map, type Observable } from 'rxjs'
import type { InstalledFeed } from './inspect-feed.js'
import type { ChangeSource } from './types.js'
import type { WireChange } from './wire.js'

export function lightWires(source: ChangeSource, installed: InstalledFeed): Observable<WireChange> {
  return source.listener.channel(installed.names.channel).pipe(map((notification): WireChange => ({ text: notification.payload })))
}
