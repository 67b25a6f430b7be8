/**
 * Over TLS, as managed servers require, rxpg reads its messages off the TLS socket ahead of pg's parser
 * (lib/pg/message-reader.ts) as it does off a plain one: a change stream's CopyData (a value larger than a read
 * arrives whole, and the stream resumes from a position) and a listener's notifications. Needs `openssl` for a
 * self-signed certificate; without it, skipped loudly.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { filter, firstValueFrom, take, toArray, type Observable } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgListener } from '../../lib/index.js'
import { changeStream, dropReplication, ensureReplication, isCheckpoint, type Change } from '../../lib/replication/index.js'
import { pgReplicationSource } from '../../lib/replication/pg/pg-replication-source.js'
import { pgSource } from '../../lib/pg/pg-source.js'
import type { EmbeddedServer } from '../../support/embedded-server.js'
import { query, startLogicalServer, stateOf } from '../support/replication.js'

const openssl = spawnSync('openssl', ['version']).status === 0
if (!openssl) console.warn('\n*** openssl is not installed: the TLS spec is SKIPPED. Install it with `apt-get install -y openssl`.\n')

/** A self-signed certificate and key the server may read (it runs as `postgres` when the tests run as root). */
function certificate(): { readonly dir: string; readonly cert: string; readonly key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rxpg-tls-'))
  const cert = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  const made = spawnSync('openssl', ['req', '-new', '-x509', '-days', '1', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', cert])
  if (made.status !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr.toString()}`)
  chmodSync(key, 0o600)
  const postgresUid = process.getuid?.() === 0 ? Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()) : Number.NaN
  if (Number.isInteger(postgresUid)) for (const path of [dir, cert, key]) chownSync(path, postgresUid, -1)
  return { dir, cert, key }
}

/** The first session a source opens, which is then ended (what it did while open is what the spec checks). */
function firstSession<S>(sessions: Observable<S>): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    const connected = sessions.subscribe({
      next: (opened) => {
        resolve(opened)
        connected.unsubscribe()
      },
      error: reject,
    })
  })
}

describe.skipIf(!openssl)('over TLS', () => {
  let server: EmbeddedServer
  let dir = ''
  let config: { connectionString: string; ssl: { rejectUnauthorized: false } }
  beforeAll(async () => {
    const made = certificate()
    dir = made.dir
    server = await startLogicalServer({ ssl: 'on', ssl_cert_file: made.cert, ssl_key_file: made.key })
    config = { connectionString: server.url, ssl: { rejectUnauthorized: false } }
  })
  afterAll(async () => {
    await server?.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads CopyData off the TLS socket, delivers every change whole, and resumes from a position', async () => {
    const names = { slot: 'tls_slot', publication: 'tls_pub' }
    await query(server.url, 'CREATE TABLE tls_orders (id int PRIMARY KEY, note text)')
    await ensureReplication(config, { ...names, tables: ['tls_orders'] })
    try {
      const session = await firstSession(pgReplicationSource(config, { ...names, tables: ['tls_orders'] }).connect(() => Date.now()))
      expect((session as unknown as { readsCopyData: boolean }).readsCopyData).toBe(true)

      const stream = changeStream(config, { ...names, tables: ['tls_orders'], checkpoints: false })
      const three = firstValueFrom(stream.changes$.pipe(filter((item) => !isCheckpoint(item)), take(3), toArray()))
      await stateOf(stream, 'connected')
      const [{ ssl }] = (await query<{ ssl: boolean }>(server.url, `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'walsender'`)) as [{ ssl: boolean }]
      expect(ssl).toBe(true)
      const large = 'x'.repeat(300_000)
      await query(server.url, `INSERT INTO tls_orders VALUES (1, 'one'), (2, $1), (3, 'three')`, [large])
      const changes = (await three) as Change[]
      expect(changes.map((change) => change.new)).toEqual([
        { id: 1, note: 'one' },
        { id: 2, note: large },
        { id: 3, note: 'three' },
      ])
      await stream.close()

      const resumed = changeStream(config, { ...names, tables: ['tls_orders'], checkpoints: false, resumeAfter: (changes[0] as Change).position })
      const rest = firstValueFrom(resumed.changes$.pipe(filter((item) => !isCheckpoint(item)), take(2), toArray()))
      expect(((await rest) as Change[]).map((change) => (change.new as { id: number }).id)).toEqual([2, 3])
      await resumed.close()
    } finally {
      await dropReplication(config, names)
    }
  })

  it('a listener reads its notifications off the TLS socket, 7999 bytes whole', async () => {
    const session = await firstSession(pgSource(config).connect(() => Date.now()))
    expect((session as unknown as { readsNotifications: boolean }).readsNotifications).toBe(true)

    const db = createPgListener(config)
    try {
      const large = 'é'.repeat(3999) + 'a'
      const received = firstValueFrom(db.channel('tls_events').pipe(take(3), toArray()))
      await db.notify('tls_events', 'one')
      await db.notify('tls_events', large)
      await db.notify('tls_events', 'three')
      expect((await received).map((notification) => notification.payload)).toEqual(['one', large, 'three'])
      // Every other client backend is rxpg's (the listener's two, and the session above while it ends): all over TLS.
      const [row] = await query<{ ssl: boolean; n: number }>(
        server.url,
        `SELECT bool_and(s.ssl) AS ssl, count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()`,
      )
      expect(row?.ssl).toBe(true)
      expect(row?.n).toBeGreaterThanOrEqual(2)
    } finally {
      await db.close()
    }
  })
})
