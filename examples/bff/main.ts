/**
 * `npm run example:bff`: the frontend-for-backend on an embedded PostgreSQL (or DATABASE_URL), at
 * http://127.0.0.1:8080 (PORT to change it). Open it in two tabs, place orders, watch both lists. Ctrl-C stops it.
 */
import { startEmbeddedServer } from '../../support/embedded-server.js'
import { startBff } from './server.js'

const database = process.env.DATABASE_URL ? undefined : await startEmbeddedServer()
const bff = await startBff({ databaseUrl: process.env.DATABASE_URL ?? database!.url, port: Number(process.env.PORT ?? 8080) })
console.log(`rxpg BFF listening on ${bff.url}`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await bff.close()
  await database?.destroy()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
