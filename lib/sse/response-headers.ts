/**
 * The headers of every stream. `no-cache, no-transform` keeps caches and compressing proxies from holding
 * events back; `X-Accel-Buffering: no` does the same for nginx (and the proxies that copy its convention);
 * no `Content-Length` and no compression, so each event leaves as soon as it is written.
 */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
}
