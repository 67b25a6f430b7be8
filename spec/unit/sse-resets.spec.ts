// Reset events at the start of a stream: a live-only channel that a reconnection lists says at once what it may
// have missed, whatever the order of the channels and however soon the others know where they stand.
import { concat, NEVER, of } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { createSseEndpoint, type SseSource } from '../../lib/sse/index.js'

/** A resumable source that stands at `position` at once (as a durable channel opened fresh does). */
const standingAt = (position: string): SseSource<string> => ({ resumable: true, open: () => concat(of({ position }), NEVER), data: String })
const quiet: SseSource<string> = { resumable: false, open: () => NEVER, data: String }

/** The stream's text up to its first heartbeat: everything written at the start. */
async function startOf(channels: Record<string, SseSource<string>>, names: string[], lastEventId: string): Promise<string> {
  const endpoint = createSseEndpoint({ channels, heartbeat: 50 })
  const query = names.map((name) => `channel=${name}`).join('&')
  const response = await endpoint.fetch(new Request(`http://bff.test/events?${query}`, { headers: { 'last-event-id': lastEventId } }))
  const reader = response.body!.getReader()
  let text = ''
  while (!text.includes('\n:\n\n')) text += new TextDecoder().decode((await reader.read()).value)
  await reader.cancel()
  await endpoint.close()
  return text.slice(0, text.indexOf('\n:\n\n'))
}

describe('resets at the start of a stream', () => {
  it.each([
    ['after resumable channels that stand somewhere at once', ['orders', 'audit', 'live']],
    ['before them', ['live', 'orders', 'audit']],
  ])('tell a reconnecting client at once that a live-only channel may have missed events, %s', async (_order, names) => {
    const text = await startOf({ orders: standingAt('o2'), audit: standingAt('a1'), live: quiet }, names, 'orders=o1&live=')
    expect(text).toContain('event: rxpg-ready')
    expect(text).toContain('event: rxpg-reset\ndata: {"channel":"live","reason":"live-only"}')
    expect(text.indexOf('rxpg-reset')).toBeGreaterThan(text.indexOf('rxpg-ready'))
  })
})
