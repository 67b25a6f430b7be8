import { timer, type SchedulerLike } from 'rxjs'

/**
 * Whether `work` settles within `ms` on `scheduler`'s clock (true: it did; false: the time ran out first, and
 * it is no longer waited for). `Infinity` waits for ever. The timer ends with the wait, so it keeps no process alive.
 */
export function settlesWithin(work: Promise<unknown>, ms: number, scheduler: SchedulerLike): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  )
  if (ms === Number.POSITIVE_INFINITY) return settled
  return new Promise<boolean>((resolve) => {
    const deadline = timer(ms, scheduler).subscribe(() => resolve(false))
    void settled.then(() => {
      deadline.unsubscribe()
      resolve(true)
    })
  })
}
