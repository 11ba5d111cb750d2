import { isIP } from 'node:net';

export const DEFAULT_FLEET_PORT = 4433;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `host:port` for messages, with brackets around IPv6 literals. */
export function formatHostPort({ host, port }: HostPort): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/**
 * `--remote-server https://HOST[:PORT]`. The port defaults to 4433, the fleet port; other schemes
 * are refused because the fleet link is always TLS.
 */
export function parseRemoteServer(text: string): HostPort & { readonly url: string } {
  const known = parsedAddresses.get(text);
  if (known) return known;
  const parsed = Object.freeze(parseAddress(text));
  if (parsedAddresses.size >= 256) parsedAddresses.delete(parsedAddresses.keys().next().value!);
  parsedAddresses.set(text, parsed);
  return parsed;
}

/**
 * Addresses parsed so far (a URL parse is ~10 µs): an executor parses its access point's on every
 * dial, and a process running thousands of executors the same few. Only good ones are kept.
 */
const parsedAddresses = new Map<string, HostPort & { readonly url: string }>();

function parseAddress(text: string): HostPort & { url: string } {
  // Credentials in the URL would be dropped without a word: the access point knows executors by
  // certificate. Checked first, so no other message repeats the password.
  const withScheme = text.includes('://') ? text : `https://${text}`;
  if (/^[^/?#]*:\/\/[^/?#]*@/.test(withScheme)) {
    const redacted = text.replace(/^([^/?#]*:\/\/)?[^/?#]*@/, '$1***@');
    throw new RangeError(
      `invalid --remote-server '${redacted}': user info (USER:PASSWORD@) is not allowed, the access point authenticates executors by certificate; use https://HOST[:PORT]`,
    );
  }
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `https://${text}`);
  } catch {
    throw new RangeError(`invalid --remote-server '${text}' (expected https://HOST[:PORT])`);
  }
  if (url.protocol !== 'https:') {
    throw new RangeError(`invalid --remote-server '${text}': the fleet link is TLS, use https://HOST[:PORT]`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new RangeError(`invalid --remote-server '${text}' (expected https://HOST[:PORT], nothing after the port)`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : DEFAULT_FLEET_PORT;
  return { host, port, url: `https://${formatHostPort({ host, port })}` };
}

/**
 * Several `--remote-server`s: each may itself be a comma-separated list. Duplicates (the same
 * `https://HOST:PORT` after defaults) are dropped, keeping the first; an empty entry is refused
 * like any other bad address.
 */
export function parseRemoteServers(texts: string | readonly string[]): Array<HostPort & { readonly url: string }> {
  const entries = (typeof texts === 'string' ? [texts] : texts).flatMap((t) => t.split(',')).map((t) => t.trim());
  const seen = new Set<string>();
  const out: Array<HostPort & { readonly url: string }> = [];
  for (const entry of entries) {
    const remote = parseRemoteServer(entry);
    if (seen.has(remote.url)) continue;
    seen.add(remote.url);
    out.push(remote);
  }
  return out;
}

/** `--fleet-listen HOST:PORT`, `[::1]:4433`, `:4433` (all interfaces) or a bare port. */
export function parseListenAddress(text: string): HostPort {
  const bare = /^\d+$/.test(text) ? `0.0.0.0:${text}` : text.startsWith(':') ? `0.0.0.0${text}` : text;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(bare);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`invalid listen address '${text}' (expected HOST:PORT, e.g. 127.0.0.1:4433)`);
  }
  return { host: (m[1] ?? m[2])!, port };
}
