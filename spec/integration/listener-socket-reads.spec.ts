/**
 * The listening session reads NotificationResponse messages straight off its socket (lib/pg/message-reader.ts)
 * with the pg this project installs, and leaves every other message to pg: were a pg release to attach its
 * parser otherwise, the session would fall back to pg's events, slower but right, and this spec would say so.
 */
import { firstValueFrom, type Subscription } from 'rxjs'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { pgSource } from '../../lib/pg/pg-source.js'
import type { ListenSession, RawNotification } from '../../lib/ports/notification-source.js'
import { databaseUrl } from '../support/database.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step()
})

async function openSession(): Promise<ListenSession> {
  const session = await new Promise<ListenSession>((resolve, reject) => {
    const connected: Subscription = pgSource(databaseUrl()).connect(() => Date.now()).subscribe({ next: resolve, error: reject })
    cleanup.push(async () => connected.unsubscribe())
  })
  return session
}

describe('listener: notifications off the socket', () => {
  it("takes NotificationResponse off pg's parser, and queries answer in between, whole", async () => {
    const session = await openSession()
    expect((session as unknown as { readsNotifications: boolean }).readsNotifications).toBe(true)
    const received: RawNotification[] = []
    const subscription = session.notifications.subscribe((notification) => received.push(notification))
    cleanup.unshift(async () => subscription.unsubscribe())
    const channel = 'Socket ' + 'é'.repeat(28) // 63 bytes, mixed case, a space
    await firstValueFrom(session.changeListens([channel, 'other'], []))

    const sender = new pg.Client({ connectionString: databaseUrl() })
    await sender.connect()
    cleanup.push(() => sender.end())
    const payloads = ['{"n":1}', '', 'same', 'ü'.repeat(3999) + 'a', 'x'.repeat(7999)]
    // Sent while the session asks the server for its channels: notifications land among the query's answers.
    const sending = sender.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [channel, payloads])
    const channels = await Promise.all([1, 2, 3].map(() => firstValueFrom(session.listeningChannels())))
    await sending
    // Identical to one before, in a transaction of its own (the server folds identical ones within one).
    await sender.query('SELECT pg_notify($1, $2)', [channel, 'same'])
    payloads.push('same')
    expect(channels.map((each) => [...each].sort())).toEqual([1, 2, 3].map(() => [channel, 'other'].sort()))
    await expect.poll(() => received.length).toBe(payloads.length)
    expect(received.map(({ channel: name, payload }) => ({ name, payload }))).toEqual(payloads.map((payload) => ({ name: channel, payload })))
    const senderPid = (sender as unknown as { processID: number }).processID
    expect(received.every((notification) => notification.processId === senderPid)).toBe(true)
  })
})
