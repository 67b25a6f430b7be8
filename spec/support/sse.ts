import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createSseEndpoint, type SseEndpoint, type SseEndpointOptions } from '../../lib/sse/index.js'

export interface SseServer {
  readonly endpoint: SseEndpoint
  readonly url: string
  /** Every socket the server accepted, to cut connections from the server side. */
  readonly sockets: Set<Socket>
  close(): Promise<void>
}

/** An endpoint on a plain node:http server on a free loopback port, at /events. */
export async function startSseServer<C, U = undefined>(options: SseEndpointOptions<C, U>): Promise<SseServer> {
  const endpoint = createSseEndpoint(options)
  const sockets = new Set<Socket>()
  const server = http.createServer((request, response) => {
    if (request.url?.startsWith('/events')) void endpoint.handle(request, response)
    else response.writeHead(404).end()
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint,
    url: `http://127.0.0.1:${port}/events`,
    sockets,
    async close() {
      await endpoint.close()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
