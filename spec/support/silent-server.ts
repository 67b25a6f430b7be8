/**
 * A server that accepts TCP connections and never answers, as a paused pooler or a hung PostgreSQL does: what a
 * client waits for from it never comes. Its connections are read (never answered), so that it notices when a
 * client closes one.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net'

export interface SilentServer {
  /** A connection string to it (user `app`, password `secret`). */
  readonly url: string
  /** How many connections it holds open now. */
  connections(): Promise<number>
  /** Destroys its connections and stops it. */
  close(): Promise<void>
}

export async function startSilentServer(): Promise<SilentServer> {
  const accepted = new Set<Socket>()
  const silent = createServer((socket) => accepted.add(socket.resume()))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  return {
    url: `postgres://app:secret@127.0.0.1:${(silent.address() as AddressInfo).port}/app`,
    connections: () => new Promise<number>((resolve) => silent.getConnections((_error, count) => resolve(count))),
    close: () => {
      for (const socket of accepted) socket.destroy()
      return new Promise<void>((resolve) => silent.close(() => resolve()))
    },
  }
}
