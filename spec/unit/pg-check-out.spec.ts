/**
 * `checkOut` (lib/pg/check-out.ts) listens for the connection's errors from the moment pg-pool hands the client
 * over. A server shutting down as a client connects can send its FATAL in the same read as the ReadyForQuery that
 * completes the connection: pg parses both at once, and with nobody listening between them (pg-pool stops
 * listening when it hands the client over) the FATAL was an uncaught exception that ended the process (a CI run
 * of the durable restart spec). A server of a few lines plays that server here, so the read is exactly that.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'
import pg from 'pg'
import { afterEach, expect, it } from 'vitest'
import { checkOut } from '../../lib/pg/check-out.js'
import { eventually } from '../support/database.js'
import { protocolMessage as message } from '../support/protocol-message.js'

const authenticationOk = message('R', Buffer.alloc(4))
const readyForQuery = message('Z', Buffer.from('I'))
const terminating = message('E', Buffer.from('SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0'))

const servers: Server[] = []
const pools: pg.Pool[] = []
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()))
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

/** A server that answers any startup with `reply`, in one write, and closes after a FATAL or a Terminate. */
async function serverAnswering(reply: Buffer, then: 'close' | 'stay'): Promise<number> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined)
    socket.once('data', () => {
      socket.write(reply)
      if (then === 'close') socket.end()
      // Terminate ('X'): the client ends the session.
      else socket.on('data', (data) => data[0] === 0x58 && socket.end())
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

it('keeps the error a server sends in the same read as the ReadyForQuery that completes the connection', async () => {
  const port = await serverAnswering(Buffer.concat([authenticationOk, readyForQuery, terminating]), 'close')
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'app', database: 'app' })
  pool.on('error', () => undefined)
  pools.push(pool)
  const out = await checkOut(pool)
  await eventually(() => out.connectionError() !== undefined, () => 'the FATAL was not seen by checkOut')
  expect(out.connectionError()).toMatchObject({ code: '57P01', severity: 'FATAL' })
  // Given back as broken: the pool removes it.
  out.release()
  expect(pool.totalCount).toBe(0)
})

it('hands over a client that connected normally, listening until it is released', async () => {
  const port = await serverAnswering(Buffer.concat([authenticationOk, readyForQuery]), 'stay')
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'app', database: 'app' })
  pool.on('error', () => undefined)
  pools.push(pool)
  const out = await checkOut(pool)
  expect(out.connectionError()).toBeUndefined()
  expect(out.client.listenerCount('error')).toBe(1)
  out.release()
  expect(pool.idleCount).toBe(1)
})
