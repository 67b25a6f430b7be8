/**
 * The queues durable channels are compared with, used as their docs show: pg-boss (`insert`, `send`, `work`)
 * and graphile-worker (`addJobs`, `addJob`, `run`). Each gets a schema of its own per run. "Tuned" follows
 * their performance advice: pg-boss fetches in batches and polls at its fastest; graphile-worker runs 24
 * concurrent jobs with a local queue and batched completion (worker.graphile.org/docs/performance).
 */
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker'
import PgBoss from 'pg-boss'
import { dropSchema, freshSchema } from './context.js'

const silent = new Logger(() => () => undefined)

export interface Queue {
  readonly name: string
  /** Enqueues many jobs in one call (the batch API). */
  addMany(payloads: readonly object[]): Promise<void>
  /** Enqueues one job. */
  addOne(payload: object): Promise<void>
  /** Starts working: `handler` runs for each job (or batch of jobs). */
  work(handler: (payloads: readonly object[]) => Promise<void> | void): Promise<void>
  close(): Promise<void>
}

export type Tuning = 'tuned' | 'defaults'

export async function pgBoss(url: string, tuning: Tuning): Promise<Queue> {
  const schema = freshSchema('pgboss')
  const boss = new PgBoss({ connectionString: url, schema, max: 10 })
  boss.on('error', () => undefined)
  await boss.start()
  const name = 'bench'
  await boss.createQueue(name)
  return {
    name: `pg-boss ${tuning}`,
    addMany: (payloads) => boss.insert(payloads.map((data) => ({ name, data }))),
    addOne: async (payload) => void (await boss.send(name, payload)),
    async work(handler) {
      const options = tuning === 'tuned' ? { batchSize: 500, pollingIntervalSeconds: 0.5 } : {}
      const workers = tuning === 'tuned' ? 2 : 1
      for (let i = 0; i < workers; i++) await boss.work<object>(name, options, async (jobs) => handler(jobs.map((job) => job.data)))
    },
    async close() {
      await boss.stop({ graceful: false, wait: true, timeout: 2000 })
      await dropSchema(url, schema)
    },
  }
}

export async function graphileWorker(url: string, tuning: Tuning): Promise<Queue> {
  const schema = freshSchema('graphile')
  const utils: WorkerUtils = await makeWorkerUtils({ connectionString: url, schema, logger: silent })
  await utils.migrate()
  let runner: Runner | undefined
  return {
    name: `graphile-worker ${tuning}`,
    addMany: async (payloads) => void (await utils.addJobs(payloads.map((payload) => ({ identifier: 'bench', payload })))),
    addOne: async (payload) => void (await utils.addJob('bench', payload)),
    async work(handler) {
      runner = await run({
        connectionString: url,
        schema,
        logger: silent,
        noHandleSignals: true,
        taskList: { bench: async (payload) => handler([payload as object]) },
        ...(tuning === 'tuned'
          ? { concurrency: 24, maxPoolSize: 12, pollInterval: 100, preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }
          : {}),
      })
    },
    async close() {
      await runner?.stop()
      await utils.release()
      await dropSchema(url, schema)
    },
  }
}
