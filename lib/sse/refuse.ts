import type { SseRefusal } from './types.js'

/**
 * A refusal for `authorize` to return: the request is answered with `status` (401: who are you?; 403: not
 * this), `message` as its text, and `headers` (e.g. `WWW-Authenticate` with a 401).
 *
 * Prefer it to an object literal: when `authorize` returns either a literal refusal or an access, TypeScript
 * adds `user?: undefined` to the literal, and the user's type `canSee` gets would then include `undefined`.
 */
export function refuse(status: 401 | 403, message?: string, headers?: Readonly<Record<string, string>>): SseRefusal {
  return { refuse: status, ...(message === undefined ? {} : { message }), ...(headers === undefined ? {} : { headers }) }
}
