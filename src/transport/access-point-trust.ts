/**
 * How an executor decides whether the server it reached is its access point.
 *
 * - `first-use` (dev identity, no CA): the access point's key is remembered the first time, in the
 *   state dir, like ssh's known_hosts; a different key later is refused, naming the file to delete.
 * - `ca`: the chain must verify to the trust bundle (OpenSSL's verdict, classified), then match
 *   `--expected-server-id` (exact SPIFFE ID), else the `--server-san` list (any listed SAN, or an
 *   SPKI pin), else by default the host of `--remote-server`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { createHash, X509Certificate } from 'node:crypto';
import { AhError } from '../errors/ah-error.js';
import { isValidAt, spkiPin, subjectAltNames } from '../x509/certificate.js';
import { bundleTouchesChain, parseCertificates } from '../x509/chain.js';
import { checkPeerChain, isChainProblem } from '../x509/chain-rules.js';
import { loneLeaf, loneLeafError } from '../x509/lone-leaf.js';
import { VALIDITY_ERRORS } from '../x509/openssl-verify-codes.js';

export interface FirstUseTrust {
  readonly kind: 'first-use';
  /** Directory of remembered access point keys (`<state-dir>/known-access-points`). */
  readonly dir: string;
}

/** `--server-san dns=ap.example.com,uri=spiffe://example.org/ah/serve,pin=sha256:…` */
export interface ServerSanPolicy {
  readonly dns: readonly string[];
  readonly uris: readonly string[];
  readonly pins: readonly string[];
}

export interface CaTrust {
  readonly kind: 'ca';
  readonly bundlePem: string;
  /** Host of `--remote-server`: the default name to check. */
  readonly host: string;
  readonly expectedServerId?: string;
  readonly serverSan?: ServerSanPolicy;
}

export type AccessPointTrust = FirstUseTrust | CaTrust;

/** Parse `--server-san`; throws RangeError on an entry it cannot read. */
export function parseServerSan(text: string): ServerSanPolicy {
  const policy = { dns: [] as string[], uris: [] as string[], pins: [] as string[] };
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const kind = entry.slice(0, eq);
    const value = entry.slice(eq + 1);
    if (eq <= 0 || !value) throw new RangeError(`invalid --server-san entry '${entry}' (use dns=NAME, uri=URI or pin=sha256:BASE64)`);
    if (kind === 'dns') policy.dns.push(value.toLowerCase());
    else if (kind === 'uri') policy.uris.push(value);
    else if (kind === 'pin' && /^sha256:[A-Za-z0-9+/]{43}=$/.test(value)) policy.pins.push(value);
    else throw new RangeError(`invalid --server-san entry '${entry}' (use dns=NAME, uri=URI or pin=sha256:BASE64)`);
  }
  return policy;
}

/** The file that remembers the key of the access point at `address` (HOST:PORT). */
export function knownAccessPointFile(dir: string, address: string): string {
  return join(dir, `${address.replace(/[^A-Za-z0-9.-]/g, '_')}.pin`);
}

/** `chainDer`: the peer's chain as the caller already read it from this socket (peerChainDer), if at hand. */
export async function verifyAccessPoint(
  socket: TLSSocket,
  trust: AccessPointTrust,
  target: { address: string },
  now: number,
  chainDer?: Buffer[],
): Promise<void> {
  if (trust.kind === 'ca') return verifyByCa(socket, trust, chainDer);
  const cert = socket.getPeerX509Certificate();
  if (!cert) throw new AhError('ENROLL_TLS_VERIFY_FAILED');
  if (!isValidAt(cert, now)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
  refuseBrokenProfile([cert.raw]);
  const pin = spkiPin(cert);
  const file = knownAccessPointFile(trust.dir, target.address);
  // The key we last read from (or wrote to) the file: the same key again needs no read. Any other
  // key sends us to the file, which has the last word: a changed key is refused as before, and a
  // file the operator deleted (the guide's fix) lets the new key be remembered.
  if (rememberedPins.get(file) === pin) return;
  let remembered: string | null = null;
  try {
    remembered = (await readFile(file, 'utf8')).split(/\s+/)[0] ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: file, detail: (err as Error).message });
    }
  }
  if (remembered === null) {
    await mkdir(trust.dir, { recursive: true, mode: 0o700 });
    await writeFile(file, `${pin} ${target.address} first seen ${new Date(now).toISOString()}\n`, { mode: 0o644 });
    rememberedPins.set(file, pin);
    return;
  }
  rememberedPins.set(file, remembered);
  if (remembered !== pin) {
    throw new AhError('ENROLL_SERVER_KEY_CHANGED', { address: target.address, expected: remembered, actual: pin, file });
  }
}

/** Pin file → the pin it held when last read or written, for every executor of this process. */
const rememberedPins = new Map<string, string>();

/**
 * The peer's chain as it was sent, leaf first. On a client socket call this before
 * getPeerX509Certificate(): after that, Node 20 returns {} from getPeerCertificate().
 */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  return peerChainDer(socket).map((der) => new X509Certificate(der));
}

/**
 * The peer's chain as DER, leaf first, as OpenSSL assembled it: the certificates the peer sent,
 * ordered by issuance, completed from our trust bundle up to a self-signed root when it can be.
 */
export function peerChainDer(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(c.raw);
    c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

function verifyByCa(socket: TLSSocket, trust: CaTrust, given?: Buffer[]): void {
  // OpenSSL verified the chain: the cheap reading of it will do. It did not: Node's own (which
  // completes the chain from the store) for the diagnosis, read before anything else, since once
  // getPeerX509Certificate() has been called Node 20 returns {} from getPeerCertificate().
  const chainDer = given ?? (socket.authorized ? verifiedChainDer(socket, trust.bundlePem) : peerChainDer(socket));
  const digests = chainDer.map(digestOf);
  const chain = chainDer.map((der, i) => knownCertificate(digests[i]!, der));
  const leaf = chain[0];
  if (!leaf) throw new AhError('ENROLL_TLS_VERIFY_FAILED', { reason: 'no server certificate' });
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (VALIDITY_ERRORS.has(reason)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
    if (/ISSUER|SELF_SIGNED|UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(reason)) {
      const bundle = parseCertificates(trust.bundlePem);
      const lone = loneLeaf(
        chain.map((c) => c.raw),
        bundle,
      );
      if (lone) throw loneLeafError(lone, 'access point', '--ca');
      throw new AhError(bundleTouchesChain(chain, bundle) ? 'ENROLL_CHAIN_INCOMPLETE' : 'ENROLL_SERVER_UNKNOWN_AUTHORITY');
    }
    throw new AhError('ENROLL_TLS_VERIFY_FAILED', { reason });
  }
  refuseBrokenProfile(chainDer, digests);
  const san = subjectAltNames(leaf);
  if (trust.expectedServerId) {
    const actual = san.uris.length === 1 ? san.uris[0]! : san.uris.length === 0 ? '(no URI SAN)' : san.uris.join(' ');
    if (actual !== trust.expectedServerId) throw new AhError('ENROLL_SERVER_ID_MISMATCH', { expected: trust.expectedServerId, actual });
    return;
  }
  if (trust.serverSan) {
    const p = trust.serverSan;
    const ok =
      san.dns.some((d) => p.dns.includes(d.toLowerCase())) || san.uris.some((u) => p.uris.includes(u)) || (p.pins.length > 0 && p.pins.includes(spkiPin(leaf)));
    if (!ok) throw new AhError('ENROLL_SAN_MISMATCH');
    return;
  }
  // Default: the access point must be named for the host in --remote-server (RFC 6125 rules,
  // OpenSSL's X509_check_host/X509_check_ip).
  const named = isIP(trust.host) ? leaf.checkIP(trust.host) !== undefined : leaf.checkHost(trust.host) !== undefined;
  if (!named) throw new AhError('ENROLL_TLS_VERIFY_FAILED', { reason: `the certificate does not name ${trust.host}` });
}

/**
 * The chain of a socket whose handshake OpenSSL verified, leaf first (DER), ordered by issuance and
 * completed from the trust bundle: what peerChainDer gives, read from the X509Certificate Node
 * hands out (its `issuerCertificate` links are the certificates the peer sent). ~10 µs against
 * ~200 µs for `getPeerCertificate(true)`, which builds an object of every certificate and
 * completes the chain from the context's whole store (docs/performance.md §The peer's chain on a new link).
 * Names and key identifiers suffice to order it (`checkIssued`): OpenSSL has checked the signatures.
 */
function verifiedChainDer(socket: TLSSocket, bundlePem: string): Buffer[] {
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return [];
  const candidates: X509Certificate[] = [];
  for (let c = leaf.issuerCertificate; c && candidates.length < MAX_CHAIN; c = c.issuerCertificate) candidates.push(c);
  candidates.push(...trustedCertificates(bundlePem));
  const chain = [leaf];
  for (let current = leaf; chain.length < MAX_CHAIN && !current.checkIssued(current); ) {
    const issuer = candidates.find((c) => !chain.includes(c) && current.checkIssued(c));
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain.map((c) => c.raw);
}

/** Longer chains than this are not read further (OpenSSL's own default depth is 100; ours are 2–4). */
const MAX_CHAIN = 16;

/** The trust bundle's certificates, parsed once per bundle text (a handful of bundles per process). */
function trustedCertificates(bundlePem: string): X509Certificate[] {
  let certificates = parsedBundles.get(bundlePem);
  if (!certificates) {
    certificates = parseCertificates(bundlePem);
    parsedBundles.set(bundlePem, certificates);
    if (parsedBundles.size > 8) parsedBundles.delete(parsedBundles.keys().next().value!);
  }
  return certificates;
}

const parsedBundles = new Map<string, X509Certificate[]>();

/** The access point's chain must follow the same leaf and CA rules as an executor's (chain-rules.ts). */
function refuseBrokenProfile(chainDer: Buffer[], digests = chainDer.map(digestOf)): void {
  // The rules read nothing but the certificates: a chain that passed once passes again, so the
  // access point's chain is parsed once, not on every dial (and not by every executor in a process).
  const key = digests.join(' ');
  if (passedChains.has(key)) return;
  const checked = checkPeerChain(chainDer, 'access-point');
  if (isChainProblem(checked)) throw new AhError('ENROLL_TLS_VERIFY_FAILED', { reason: `access point certificate: ${checked.rule}` });
  passedChains.add(key);
  // A handful of access points (and their rotations) at most: forget the oldest beyond that.
  if (passedChains.size > 32) passedChains.delete(passedChains.values().next().value!);
}

/** Chains (as their certificates' SHA-256, leaf first) that followed the rules. */
const passedChains = new Set<string>();

const digestOf = (der: Buffer): string => createHash('sha256').update(der).digest('base64');

/** The access point's certificates, parsed once per process: the same few are presented on every dial. */
const parsedCertificates = new Map<string, X509Certificate>();

function knownCertificate(digest: string, der: Buffer): X509Certificate {
  let cert = parsedCertificates.get(digest);
  if (!cert) {
    cert = new X509Certificate(der);
    parsedCertificates.set(digest, cert);
    if (parsedCertificates.size > 32) parsedCertificates.delete(parsedCertificates.keys().next().value!);
  }
  return cert;
}
