import { CHANNEL_PARAMETER } from './protocol.js'

/** The stream's URL with one `channel` parameter per channel (relative URLs resolve against the page's). */
export function requestUrl(url: string | URL, channels: readonly string[]): URL {
  const base = (globalThis as { location?: { href?: string | undefined } | undefined }).location?.href
  const result = new URL(url, base)
  for (const channel of channels) result.searchParams.append(CHANNEL_PARAMETER, channel)
  return result
}
