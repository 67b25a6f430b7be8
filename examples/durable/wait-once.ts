/**
 * `npm run example:durable-wait-once`: CouchDB's long-poll `feed=longpoll&since=`. `firstValueFrom` on a read
 * from a token waits for the first message after it: at once when one is already there, else until one commits.
 */
import { firstValueFrom } from 'rxjs'
import { exampleSetup } from './setup.js'

const { log, close } = await exampleSetup('example_wait_once')

const { next: since } = await log.fetch('jobs', { after: 'earliest' }) // nothing yet: a token at "now"

const waiting = firstValueFrom(log.read('jobs', { from: since }))
console.log('waiting for the next job…')
setTimeout(() => void log.append('jobs', { task: 'resize', image: 'cat.png' }), 300)
const job = await waiting
console.log(`woken by ${JSON.stringify(job.value)}; resume after it with token ${job.token}`)

// Asking again from that token waits for the following one; one is there already, so it returns at once.
await log.append('jobs', { task: 'thumbnail', image: 'dog.png' })
console.log(`next: ${JSON.stringify((await firstValueFrom(log.read('jobs', { from: job.token }))).value)}`)

await close()
