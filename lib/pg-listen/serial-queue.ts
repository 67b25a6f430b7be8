/**
 * Runs asynchronous jobs one after another, in call order.
 *
 * pg still queues a query issued while another runs on the same client, but that queue is deprecated and goes
 * in pg@9 ("Calling client.query() when the client is already executing a query"). So every `pg.Client` rxpg
 * owns sends its queries through one of these: LISTEN changes, the channel check and the self-probe on the
 * listening connection; batches and probes on the sending one. A failed job does not hold up the ones after it
 * (on a broken connection they fail on their own).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job)
    this.tail = result.then(ignore, ignore)
    return result
  }
}

function ignore(): void {}
