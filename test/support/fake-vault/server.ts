/**
 * The fake Vault's HTTP side: routing, the seal gate, the token gate, the request log, faults.
 *
 * Order of checks per request, as in Vault's core (docs/vault-api.md §Errors and status codes):
 *   1. `sys/seal-status`, `sys/health`, `sys/unseal` answer whatever the seal state
 *      (§Errors and status codes, §Seal status);
 *   2. sealed → 503 `Vault is sealed` for every other `/v1/` path (§Errors and status codes);
 *   3. login paths (`auth/<approle mount>/login`) are unauthenticated — a stale `X-Vault-Token` on
 *      them is ignored, as Vault does and as node-vault sends it (§node-vault);
 *   4. every other path needs a live token (`X-Vault-Token`, or `Authorization: Bearer`): none →
 *      403 `permission denied`, unknown/expired → 403 `permission denied` + `invalid token`; then
 *      the token's policy must allow the path (403 `permission denied`);
 *   5. routing: a known mount's backend, else 404 `no handler for route "<path>". route entry not
 *      found.`
 */
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pathAllowed } from './acl.js';
import { AppRoleBackend, type AppRoleConfig } from './approle.js';
import { optionSeconds, parseDurationSeconds, goQuote, type VaultDuration } from './durations.js';
import {
  VaultHttpError,
  envelope,
  errorBody,
  errorResponse,
  invalidToken,
  jsonBody,
  noHandler,
  permissionDenied,
  sealedError,
  unsupportedOperation,
  unsupportedPath,
  type LogicalResponse,
} from './envelope.js';
import { FaultQueue, HTML_PAGE, damage, isInstead, type Fault, type FaultMatch } from './faults.js';
import { createRoot, floorSecond, listenerCertificate } from './pki-ca.js';
import { GENERIC_NAME, PkiBackend, type IssuedCertificate, type PkiMountConfig } from './pki.js';
import type { PkiRoleConfig } from './pki-rules.js';
import { SealState } from './seal.js';
import { TokenStore, newTokenId, type TokenEntry } from './tokens.js';

export interface FakeVaultOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** AppRole roles (one or more; each may name its own auth mount). */
  approle?: AppRoleConfig | readonly AppRoleConfig[];
  /** The PKI mount and its CA. */
  pki?: PkiMountConfig;
  /** PKI roles on that mount, by name (`pki/issue/<name>`). */
  roles?: Record<string, PkiRoleConfig>;
  /** The root token (never expires, passes every policy). Default: a random `hvs.` token. */
  rootToken?: string;
  /** Start sealed. */
  sealed?: boolean;
  /** `version` reported by seal-status/health. */
  version?: string;
  /** Clock for TTLs and certificate validity (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** Serve HTTPS with a certificate from a listener CA of its own (see `listenerCaPem()`). */
  tls?: boolean;
}

/** One request as the fake saw it (after it answered). */
export interface RequestRecord {
  readonly method: string;
  /** Path as sent, with `/v1/`, without the query. */
  readonly path: string;
  readonly query: string;
  readonly hadToken: boolean;
  readonly token: string | undefined;
  /** Parsed JSON body, the raw text if it was not JSON, or undefined if empty. */
  readonly body: unknown;
  /** Status sent; undefined for `reset`/`hang` faults. */
  readonly status: number | undefined;
  /** The fault applied, if any. */
  readonly fault: string | undefined;
  readonly at: number;
}

export interface TokenInfo {
  readonly policies: readonly string[];
  /** Seconds left (lookup-self `ttl`). */
  readonly ttl: number;
  readonly expireAt: number | null;
  readonly meta: Readonly<Record<string, string>> | null;
  readonly renewals: number;
}

interface Answer {
  status: number;
  contentType?: string;
  body: string;
}

type Operation = 'read' | 'update' | 'delete' | 'list' | 'patch' | 'unknown';

function operationFor(method: string, query: URLSearchParams): Operation {
  switch (method) {
    case 'GET':
      return query.get('list') === 'true' || query.get('list') === '1' ? 'list' : 'read';
    case 'POST':
    case 'PUT':
      return 'update';
    case 'DELETE':
      return 'delete';
    case 'LIST':
      return 'list';
    case 'PATCH':
      return 'patch';
    default:
      return 'unknown';
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Go's json error for the first thing we cannot read, approximately (not pinned in
 * docs/vault-api.md).
 */
function parseJsonBody(raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8');
  if (text.trim() === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw errorResponse('failed to parse JSON input: json: cannot unmarshal into Go value of type map[string]interface {}');
    }
    return v as Record<string, unknown>;
  } catch (err) {
    if (err instanceof VaultHttpError) throw err;
    const first = text.trim()[0]!;
    const detail = /[{["\-0-9tfn]/.test(first) ? 'unexpected EOF' : `invalid character '${first}' looking for beginning of value`;
    throw new VaultHttpError(400, [`failed to parse JSON input: ${detail}`]);
  }
}

function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers['x-vault-token'];
  const v = Array.isArray(header) ? header[0] : header;
  if (v) return v;
  const authz = req.headers.authorization;
  if (authz?.startsWith('Bearer ')) return authz.slice('Bearer '.length);
  return undefined;
}

export class FakeVault extends EventEmitter {
  readonly url: string;
  readonly port: number;
  readonly rootToken: string;
  readonly requests: RequestRecord[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly renewals = new Map<string, number>();

  constructor(
    private readonly server: Server,
    private readonly sealState: SealState,
    private readonly tokenStore: TokenStore,
    private readonly approle: AppRoleBackend,
    private readonly pki: PkiBackend,
    private readonly faults: FaultQueue,
    private readonly now: () => number,
    private readonly listenerCa: string | undefined,
    rootToken: string,
    scheme: 'http' | 'https',
  ) {
    super();
    const addr = server.address() as AddressInfo;
    this.port = addr.port;
    this.url = `${scheme}://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
    this.rootToken = rootToken;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  // --- test hooks ---------------------------------------------------------------------------------

  get sealed(): boolean {
    return this.sealState.sealed;
  }

  /** Base64 unseal shares for `PUT /v1/sys/unseal` (3 of 5 unseal). */
  get unsealKeys(): readonly string[] {
    return this.sealState.unsealKeys;
  }

  /** Seal now: every ordinary request gets 503 until `unseal()`. Tokens survive, as in Vault. */
  seal(): void {
    this.sealState.seal();
  }

  unseal(): void {
    this.sealState.unseal();
  }

  /** The root CA (PEM with a trailing newline): the trust anchor for issued certificates. */
  caPem(): string {
    return `${this.pki.root.pem}\n`;
  }

  /** The CA that signs leaves (`issuing_ca`); the root itself when `pki.intermediate` is false. */
  issuingCaPem(): string {
    return `${this.pki.issuer.pem}\n`;
  }

  /** `ca_chain` as issue returns it: issuing CA first, root last. */
  caChainPem(): string[] {
    return this.pki.chain.map((c) => c.pem);
  }

  /** With `tls: true`, the PEM to trust for the fake's own HTTPS listener (`VAULT_CACERT`). */
  listenerCaPem(): string | undefined {
    return this.listenerCa;
  }

  /** Certificates issued so far, oldest first. */
  get issued(): readonly IssuedCertificate[] {
    return this.pki.issued;
  }

  /** A token made directly (like `vault token create`), e.g. for `VAULT_TOKEN` flows. */
  createToken(
    opts: { ttl?: VaultDuration; maxTtl?: VaultDuration; policies?: readonly string[]; allowedPaths?: readonly string[]; renewable?: boolean } = {},
  ): string {
    const { entry } = this.tokenStore.create({
      policies: opts.policies ?? [],
      meta: null,
      displayName: 'token',
      path: 'auth/token/create',
      ttl: optionSeconds(opts.ttl, 0),
      maxTtl: optionSeconds(opts.maxTtl, 0),
      allowedPaths: opts.allowedPaths ?? ['*'],
      renewable: opts.renewable,
    });
    return entry.id;
  }

  /** What the store knows about a live token, or undefined if it is dead. */
  lookupToken(token: string): TokenInfo | undefined {
    const e = this.tokenStore.lookup(token);
    if (!e) return undefined;
    return { policies: e.policies, ttl: this.tokenStore.ttlLeft(e), expireAt: e.expireAt, meta: e.meta, renewals: this.renewals.get(token) ?? 0 };
  }

  /** Live tokens (root included). */
  liveTokens(): string[] {
    return this.tokenStore.liveIds();
  }

  /** Make a token dead now, as if its TTL had run out; the next use is 403 `invalid token`. */
  expireToken(token: string): boolean {
    return this.tokenStore.expire(token);
  }

  /** Expire every token but root (e.g. "all executor tokens just ran out"). */
  expireAllTokens(): number {
    let n = 0;
    for (const id of this.tokenStore.liveIds()) if (id !== this.rootToken && this.tokenStore.expire(id)) n++;
    return n;
  }

  addSecretId(secretId: string, opts?: { roleName?: string; mount?: string; ttl?: VaultDuration; numUses?: number }): void {
    this.approle.addSecretId(secretId, opts);
  }

  revokeSecretId(secretId: string): boolean {
    return this.approle.revokeSecretId(secretId);
  }

  /** Add or replace a PKI role at run time. */
  setRole(name: string, config: PkiRoleConfig): void {
    this.pki.setRole(name, config);
  }

  deleteRole(name: string): boolean {
    return this.pki.deleteRole(name);
  }

  /**
   * Make the next matching answer(s) not what Vault sends. See faults.ts for the kinds.
   * `failNext('html')`, `failNext('truncated-json', { path: '/issue/' })`,
   * `failNext({ status: 502, body: 'Bad Gateway', contentType: 'text/plain' })`.
   */
  failNext(fault: Fault, match?: FaultMatch): void {
    this.faults.add(fault, match);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /**
   * Resolve with the first request (from index `from`, default: requests made after this call)
   * that satisfies `predicate`; reject after `timeoutMs` (default 30 s).
   */
  waitForRequest(predicate: (r: RequestRecord) => boolean, opts: { from?: number; timeoutMs?: number } = {}): Promise<RequestRecord> {
    const from = opts.from ?? this.requests.length;
    const past = this.requests.slice(from).find(predicate);
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const onRequest = (r: RequestRecord) => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.off('request', onRequest);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.off('request', onRequest);
        reject(new Error(`fake-vault: no matching request within ${opts.timeoutMs ?? 30_000}ms`));
      }, opts.timeoutMs ?? 30_000);
      this.on('request', onRequest);
    });
  }

  /** Close the listener and every connection (hung ones included). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // --- HTTP -----------------------------------------------------------------------------------------

  /** The `node:http` request listener. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-vault');
    const method = (req.method ?? 'GET').toUpperCase();
    const token = tokenOf(req);
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      return;
    }
    const text = raw.toString('utf8');
    let loggedBody: unknown;
    if (text !== '') {
      try {
        loggedBody = JSON.parse(text);
      } catch {
        loggedBody = text;
      }
    }
    const log = (status: number | undefined, fault: string | undefined) => {
      const record: RequestRecord = {
        method,
        path: url.pathname,
        query: url.search,
        hadToken: token !== undefined,
        token,
        body: loggedBody,
        status,
        fault,
        at: this.now(),
      };
      this.requests.push(record);
      this.emit('request', record);
    };

    const armed = this.faults.take(method, url.pathname);
    if (armed && isInstead(armed.fault)) {
      const f = armed.fault;
      const name = typeof f === 'string' ? f : 'status' in f ? `status ${f.status}` : 'mutate';
      if (f === 'reset') {
        log(undefined, name);
        req.socket.destroy();
        return;
      }
      if (f === 'hang') {
        log(undefined, name); // left open; stop() destroys the socket
        return;
      }
      let answer: Answer;
      if (f === 'html') answer = { status: armed.match.status ?? 200, contentType: 'text/html; charset=utf-8', body: HTML_PAGE };
      else if (f === 'empty-body') answer = { status: armed.match.status ?? 200, contentType: 'application/json', body: '' };
      else if (typeof f === 'object' && 'status' in f) answer = { status: f.status, contentType: f.contentType ?? 'text/plain; charset=utf-8', body: f.body };
      else answer = { status: 500, body: '' };
      this.send(res, answer);
      log(answer.status, name);
      return;
    }

    const answer = await this.answer(method, url, raw, token);
    let faultName: string | undefined;
    if (armed) {
      faultName = typeof armed.fault === 'string' ? armed.fault : 'mutate';
      if (answer.body !== '') answer.body = damage(armed.fault, answer.body);
    }
    this.send(res, answer);
    log(answer.status, faultName);
  }

  private send(res: ServerResponse, a: Answer): void {
    // Vault sets Cache-Control: no-store on every answer; JSON bodies are application/json.
    res.setHeader('Cache-Control', 'no-store');
    if (a.status !== 204 && a.contentType) res.setHeader('Content-Type', a.contentType);
    res.statusCode = a.status;
    res.end(a.status === 204 ? undefined : a.body);
  }

  private async answer(method: string, url: URL, raw: Buffer, token: string | undefined): Promise<Answer> {
    try {
      return await this.route(method, url, raw, token);
    } catch (err) {
      if (err instanceof VaultHttpError) return { status: err.status, contentType: 'application/json', body: errorBody(err) };
      const message = err instanceof Error ? err.message : String(err);
      return { status: 500, contentType: 'application/json', body: errorBody(new VaultHttpError(500, [message])) };
    }
  }

  private ok(resp: LogicalResponse): Answer {
    return { status: 200, contentType: 'application/json', body: jsonBody(envelope(resp)) };
  }

  private raw(status: number, value: unknown): Answer {
    return { status, contentType: 'application/json', body: jsonBody(value) };
  }

  /** `respondError(w, 405, nil)`: the raw sys handlers' wrong-method answer, `{"errors":[]}`. */
  private static readonly METHOD_NOT_ALLOWED: Answer = { status: 405, contentType: 'application/json', body: jsonBody({ errors: [] }) };

  private async route(method: string, url: URL, raw: Buffer, token: string | undefined): Promise<Answer> {
    if (!url.pathname.startsWith('/v1/')) {
      // Outside the API Vault's mux answers with Go's plain-text 404.
      return { status: 404, contentType: 'text/plain; charset=utf-8', body: '404 page not found\n' };
    }
    const path = url.pathname.slice('/v1/'.length);

    // 1. Raw sys handlers: they answer sealed or not (§Errors and status codes, §Seal status).
    switch (path) {
      case 'sys/seal-status':
        if (method !== 'GET') return FakeVault.METHOD_NOT_ALLOWED;
        return this.raw(200, this.sealState.status());
      case 'sys/health': {
        if (method !== 'GET' && method !== 'HEAD') return FakeVault.METHOD_NOT_ALLOWED;
        const h = this.sealState.health(this.now(), url.searchParams);
        return this.raw(h.status, h.body);
      }
      case 'sys/unseal':
        if (method !== 'PUT' && method !== 'POST') return FakeVault.METHOD_NOT_ALLOWED;
        return this.raw(200, this.sealState.submit(parseJsonBody(raw)));
      case 'sys/seal': {
        if (method !== 'PUT' && method !== 'POST') return FakeVault.METHOD_NOT_ALLOWED;
        if (this.sealState.sealed) throw sealedError();
        const entry = this.checkToken(token);
        if (!entry.root) throw permissionDenied(); // sealing needs sudo; only root has it here
        this.sealState.seal();
        return { status: 204, body: '' };
      }
      default:
        break;
    }

    // 2. Sealed: everything else is 503 (§Errors and status codes).
    if (this.sealState.sealed) throw sealedError();

    const op = operationFor(method, url.searchParams);
    const body = op === 'update' || op === 'patch' ? parseJsonBody(raw) : {};

    // 3. Login paths are unauthenticated (§AppRole login).
    for (const mount of this.approle.mounts()) {
      if (path === `auth/${mount}/login`) {
        if (op !== 'update') throw unsupportedOperation();
        return this.ok(this.approle.login(mount, body));
      }
    }

    // 4. Everything else: a live token whose policy allows the path (§Errors and status codes).
    const entry = this.checkToken(token);
    if (!entry.root && !pathAllowed(entry.allowedPaths, path)) throw permissionDenied();

    // 5. Routing.
    if (path.startsWith('auth/token/')) return this.tokenPath(path.slice('auth/token/'.length), op, body, entry);
    if (path === this.pki.mount || path.startsWith(`${this.pki.mount}/`)) return this.pkiPath(path.slice(this.pki.mount.length + 1), op, body);
    for (const mount of this.approle.mounts()) if (path.startsWith(`auth/${mount}/`)) throw unsupportedPath();
    if (path.startsWith('sys/')) throw unsupportedPath();
    throw noHandler(path);
  }

  /** No token → `permission denied`; an unknown or expired one → `permission denied` + `invalid token`. */
  private checkToken(token: string | undefined): TokenEntry {
    if (token === undefined || token === '') throw permissionDenied();
    const entry = this.tokenStore.lookup(token);
    if (!entry) throw invalidToken();
    return entry;
  }

  /** `auth/token/lookup-self`, `renew-self`, `revoke-self` (§Token lookup and renewal). */
  private tokenPath(sub: string, op: Operation, body: Record<string, unknown>, entry: TokenEntry): Answer {
    switch (sub) {
      case 'lookup-self':
        if (op !== 'read' && op !== 'update') throw unsupportedOperation();
        return this.ok({ data: this.tokenStore.lookupData(entry), mountType: 'token' });
      case 'renew-self': {
        if (op !== 'update') throw unsupportedOperation();
        let increment: number;
        try {
          increment = parseDurationSeconds(body.increment);
        } catch (err) {
          const shown = typeof body.increment === 'string' ? body.increment : JSON.stringify(body.increment);
          throw errorResponse(`error converting input ${shown} for field ${goQuote('increment')}: ${(err as Error).message}`);
        }
        const { ttl, warnings } = this.tokenStore.renew(entry, increment);
        this.renewals.set(entry.id, (this.renewals.get(entry.id) ?? 0) + 1);
        return this.ok({ auth: this.tokenStore.authBlock(entry, ttl), warnings, mountType: 'token' });
      }
      case 'revoke-self':
        if (op !== 'update') throw unsupportedOperation();
        this.tokenStore.revoke(entry.id);
        return { status: 204, body: '' };
      default:
        throw unsupportedPath();
    }
  }

  /** `<mount>/issue/<role>` and `<mount>/issuer/<ref>/issue/<role>` (§PKI issue). */
  private async pkiPath(sub: string, op: Operation, body: Record<string, unknown>): Promise<Answer> {
    const parts = sub.split('/');
    let role: string | undefined;
    let ref: string | undefined;
    if (parts.length === 2 && parts[0] === 'issue') role = parts[1];
    else if (parts.length === 4 && parts[0] === 'issuer' && parts[2] === 'issue') {
      ref = parts[1];
      role = parts[3];
    }
    if (role === undefined || !GENERIC_NAME.test(role) || (ref !== undefined && !GENERIC_NAME.test(ref))) throw unsupportedPath();
    if (op !== 'update') throw unsupportedOperation();
    return this.ok(await this.pki.issue(role, body, ref));
  }
}

/** Start a fake Vault on 127.0.0.1 (port 0 by default). Stop it with `stop()`. */
export async function startFakeVault(options: FakeVaultOptions = {}): Promise<FakeVault> {
  const now = options.now ?? Date.now;
  const seal = new SealState({ sealed: options.sealed, version: options.version });
  const tokens = new TokenStore(now);
  const rootToken = options.rootToken ?? newTokenId();
  tokens.create({ id: rootToken, root: true, policies: [], meta: null, displayName: 'root', path: 'auth/token/root', ttl: 0, maxTtl: 0, allowedPaths: ['*'] });
  const approleConfigs = options.approle === undefined ? [] : Array.isArray(options.approle) ? options.approle : [options.approle as AppRoleConfig];
  const approle = new AppRoleBackend(approleConfigs, tokens, now);
  const pki = await PkiBackend.create(options.pki ?? {}, options.roles ?? {}, now);
  const faults = new FaultQueue();

  let vault: FakeVault | undefined;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    void vault!.handle(req, res);
  };
  let server: Server;
  let listenerCa: string | undefined;
  if (options.tls) {
    // The listener's CA is not the PKI engine's: a client must be given VAULT_CACERT to reach Vault.
    const ca = await createRoot({
      commonName: 'Fake Vault Listener CA',
      keyType: 'ec',
      keyBits: 256,
      notBefore: floorSecond(Date.now() - 30_000),
      notAfter: floorSecond(Date.now() + 365 * 86_400_000),
    });
    const leaf = await listenerCertificate(ca, floorSecond(Date.now() + 364 * 86_400_000));
    listenerCa = `${ca.pem}\n`;
    server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, listener) as unknown as Server;
  } else {
    server = createHttpServer(listener);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  vault = new FakeVault(server, seal, tokens, approle, pki, faults, now, listenerCa, rootToken, options.tls ? 'https' : 'http');
  return vault;
}
