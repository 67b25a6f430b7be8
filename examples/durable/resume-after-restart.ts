/**
 * `npm run example:durable-resume`: a reader that stores its token survives its own restart and the server's:
 * it resumes exactly after the last message it handled, and gets what was appended while it was down.
 */
import { firstValueFrom, take, toArray } from 'rxjs'
import { exampleSetup } from './setup.js'

const setup = await exampleSetup('example_resume')
const { log } = setup
let storedToken = 'earliest' // in a real service: a row or a file, written after each message is handled

await log.append('audit', 'user 1 logged in')
await log.append('audit', 'user 1 changed the password')

// First run: handle two messages, storing the token after each.
const firstRun = setup.reopen()
for (const message of await firstValueFrom(firstRun.log.read('audit', { from: storedToken }).pipe(take(2), toArray()))) {
  console.log(`handled: ${String(message.value)}`)
  storedToken = message.token
}
await firstRun.close() // the reader's process stops

// Meanwhile: more messages, and a server restart (the embedded one; skipped with DATABASE_URL).
await log.append('audit', 'user 2 logged in')
if (setup.server) {
  await setup.server.stop()
  await setup.server.start()
  console.log('server restarted')
}
await log.append('audit', 'user 2 logged out')

// Second run: resume from the stored token; nothing handled twice, nothing missed.
const secondRun = setup.reopen()
for (const message of await firstValueFrom(secondRun.log.read('audit', { from: storedToken }).pipe(take(2), toArray()))) {
  console.log(`handled after restart: ${String(message.value)}`)
  storedToken = message.token
}
console.log(`stored token: ${storedToken}`)
await secondRun.close()
await setup.close()
