import { DecodeError } from '../operators/decode.js'
import { isPromiseLike, runnerFor, type Decoder, type Either } from '../operators/decoder.js'

/** Decodes one channel's event data: a value, or the `DecodeError` saying why not (never a throw). */
export type DataDecoder = (data: string) => Either<DecodeError, unknown> | Promise<Either<DecodeError, unknown>>

/** The decoder of a channel, run the way `decode` runs it on the server side: JSON first unless `json` is false. */
export function dataDecoder(channel: string, decoder: Decoder<unknown>, json: boolean): DataDecoder {
  const run = runnerFor(decoder)
  const failure = (data: string, messages: string[], cause: unknown): Either<DecodeError, unknown> => ({
    _tag: 'Left',
    left: new DecodeError({ channel, payload: data, messages, direction: 'receive' }, cause === undefined ? undefined : { cause }),
  })
  return (data) => {
    let input: unknown = data
    if (json) {
      try {
        input = JSON.parse(data)
      } catch (error) {
        return failure(data, [`the data is not JSON (${(error as Error).message})`], error)
      }
    }
    const attempt = run(input)
    const settle = (result: Awaited<typeof attempt>): Either<DecodeError, unknown> =>
      result._tag === 'Right' ? result : failure(data, result.left.messages, result.left.cause)
    return isPromiseLike(attempt) ? Promise.resolve(attempt).then(settle) : settle(attempt)
  }
}
