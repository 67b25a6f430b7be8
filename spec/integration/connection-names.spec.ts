// rxpg's own connections say what they are in pg_stat_activity (application_name), so that an operator can tell
// the listener, the sending connection, a durable log's pool and a consumer's lease connection apart; a name
// the application gives (in its config, its connection string or PGAPPNAME) is kept.
import { firstValueFrom, filter } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { createDurableLog } from '../../lib/durable/index.js'
import { adminQuery, eventually, uniqueName } from '../support/database.js'
import { durableDatabaseUrl, uniqueSchema } from '../support/durable.js'

const nameOf = async (pid: number, url: string) =>
  (await adminQuery<{ name: string }>('SELECT application_name AS name FROM pg_stat_activity WHERE pid = $1', [pid], url))[0]?.name

/** The backends named `name` (other spec files may have some too: the checks only ask that there is one). */
const namedBackends = async (name: string, url: string) =>
  (await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name], url)).map((row) => row.pid)

describe("rxpg's connections in pg_stat_activity", () => {
  it('are named after what they do when the application names nothing', async () => {
    const url = durableDatabaseUrl()
    const listener = createPgListener(url)
    const schema = uniqueSchema('names')
    const log = createDurableLog({ listener, pool: url, schema })
    try {
      const channel = uniqueName('names')
      const received = firstValueFrom(listener.channel(channel))
      const connected = await firstValueFrom(listener.state$.pipe(filter((state) => state.status === 'connected')))
      await listener.notify(channel, 'hello')
      await received
      expect(await nameOf(connected.processId, url)).toBe('rxpg listener')
      expect(await namedBackends('rxpg notify', url)).not.toEqual([])
      await log.ensureSchema()
      await log.append('orders', { id: 1 })
      expect(await namedBackends('rxpg durable', url)).not.toEqual([])
      const consumer = log.consume('orders', 'g', async () => undefined)
      await eventually(async () => (await namedBackends('rxpg durable leases', url)).length > 0, () => 'no lease connection named')
      await consumer.stop()
    } finally {
      await log.close()
      await listener.close()
      await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, [], url)
    }
  })

  it('keep the name the application gives, in its config or its connection string', async () => {
    const url = durableDatabaseUrl()
    for (const config of [{ connectionString: url, application_name: 'orders-bff' }, `${url}${url.includes('?') ? '&' : '?'}application_name=orders-bff`]) {
      const listener = createPgListener(config)
      // The listener connects for its first channel.
      const listening = listener.channel(uniqueName('named')).subscribe()
      try {
        const connected = await firstValueFrom(listener.state$.pipe(filter((state) => state.status === 'connected')))
        expect(await nameOf(connected.processId, url)).toBe('orders-bff')
      } finally {
        listening.unsubscribe()
        await listener.close()
      }
    }
  })
})
