import { namesOf, resolveFeed } from './feed.js'
import type { ChangeFeedSpec } from './types.js'

/**
 * The channel a feed's changes travel on: its durable channel (durable carrier: `log.consume` and `log.fetch`
 * take it, with values in the trigger's raw JSON), or its NOTIFY channel (light carrier: `db.listening()` tells
 * when changes are delivered). `changes:<schema>.<name>` (each part double-quoted unless
 * it is a plain lower-case name), or a hash of it when that is over 63 bytes.
 */
export function changeFeedChannel(spec: ChangeFeedSpec): string {
  return namesOf(resolveFeed(spec)).channel
}
