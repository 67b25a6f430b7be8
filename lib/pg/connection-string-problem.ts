/**
 * Why pg could not parse a connection string. Its `new URL` throws ERR_INVALID_URL, which says only "Invalid
 * URL" (and pg blanks the string it held, as it holds the password): this names the part that is wrong when it
 * can tell. It quotes only the host or the port, never the user name or the password, and quotes nothing when
 * the string is ambiguous (what reads as host and port may then be part of the password).
 */
export function connectionStringProblem(connectionString: string | undefined): string {
  return `the connection string could not be parsed: ${connectionString === undefined ? 'it is not a URL' : problemOf(asPgReadsIt(connectionString))}`
}

/** The string as pg hands it to `new URL`: with spaces or malformed %-escapes, encoded first (pg-connection-string's parse). */
function asPgReadsIt(text: string): string {
  return / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text) ? encodeURI(text).replace(/%25(\d\d)/g, '%$1') : text
}

function problemOf(text: string): string {
  // The authority (user:password@host:port) ends at the first / ? or #, as the URL parser reads it.
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text)
  if (match === null) return 'it is not a URL (postgres://user:password@host:port/database)'
  const [start, authority = ''] = match
  const credentialsEnd = authority.lastIndexOf('@')
  const laterAt = text.indexOf('@', start.length) !== -1
  // The only @ is past the authority: a / ? or # in the credentials ended the authority early.
  if (credentialsEnd === -1 && laterAt) return 'a / ? or # in the user name or password must be percent-encoded (%2F %3F %23)'
  const quote = laterAt ? () => '' : (part: string) => ` ${JSON.stringify(part)}`
  const hostAndPort = authority.slice(credentialsEnd + 1)
  let host = hostAndPort
  let port: string | undefined
  if (hostAndPort.startsWith('[')) {
    const close = hostAndPort.indexOf(']')
    if (close === -1) return `the host${quote(hostAndPort)} has no closing ]`
    host = hostAndPort.slice(0, close + 1)
    const after = hostAndPort.slice(close + 1)
    if (after !== '' && !after.startsWith(':')) return `the host${quote(hostAndPort)} goes on after its ] with something other than :port`
    if (after !== '') port = after.slice(1)
  } else if (hostAndPort.includes(':')) {
    host = hostAndPort.slice(0, hostAndPort.indexOf(':'))
    port = hostAndPort.slice(hostAndPort.indexOf(':') + 1)
  }
  if (port !== undefined && port !== '') {
    if (!/^[0-9]+$/.test(port)) return `the port${quote(port)} is not a number`
    if (Number(port) > 65535) return `the port${quote(port)} is out of range (0 to 65535)`
  }
  if (host === '') return port === undefined ? 'it names no host' : 'it has a port but no host'
  if (!parses(`postgres://${host}/`)) return host.startsWith('[') ? `the host${quote(host)} is not an IPv6 address` : `the host${quote(host)} holds a character a host name cannot have`
  return 'it is not a URL (postgres://user:password@host:port/database)'
}

function parses(url: string): boolean {
  try {
    new URL(url)
    return true
  } catch {
    return false
  }
}
