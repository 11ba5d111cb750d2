/**
 * The files identity: PEM files the operator's own PKI writes (cert-manager Secrets, spiffe-helper,
 * a cron job). Watch events are hints only (docs/toolchain-notes.md §Watching certificate files):
 * on any of them, and on a periodic hash poll that catches what inotify misses, re-read all three
 * files, verify them together, and offer the set only when its content changed. A bad set (torn
 * write, key of another certificate) is reported and not offered, so the identity in use stays.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { EventEmitter } from 'eventemitter3';
import { AhError } from '../errors/ah-error.js';
import { keyMatchesCertificate, summarize } from '../x509/certificate.js';
import { chainBreak, parseCertificates } from '../x509/chain.js';
import type { IdentityMaterial, IdentityProvider, ProviderEvents, ProviderLogHook } from './identity-provider.js';
import { clearLongInterval, setLongInterval, type LongInterval } from '../util/long-timer.js';

export interface FilesProviderOptions {
  /** Leaf certificate, optionally followed by intermediates. Without cert and key the executor dials anonymously. */
  readonly certPath?: string;
  readonly keyPath?: string;
  /** Trust bundle: the CA(s) that issue the peer's certificates. */
  readonly caPath?: string;
  /** Safety-net poll of the files' content (default 30 s). */
  readonly pollIntervalMs?: number;
  /** Quiet time after a watch event before re-reading (default 300 ms). */
  readonly debounceMs?: number;
  /** Watch the directories (default true); without it only the poll sees changes. */
  readonly watch?: boolean;
  /** Told when a re-read finds nothing new (`touch cert.pem`), for the log. */
  readonly onUnchanged?: (reason: string) => void;
  /** Told what the provider does that is worth a log line (a change seen, the watch failing). */
  readonly onEvent?: ProviderLogHook;
}

type Read = { ok: true; text: string } | { ok: false; error: AhError };

async function readIdentityFile(path: string, what: string): Promise<Read> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, error: new AhError('ENROLL_FILE_NOT_FOUND', { path, dir: dirname(path) }) };
    if (code === 'EACCES' || code === 'EPERM') return { ok: false, error: new AhError('ENROLL_PERMISSION_DENIED', { path }) };
    return { ok: false, error: new AhError('ENROLL_UNREADABLE_PEM', { what, path, detail: code ?? (err as Error).message }) };
  }
}

/** The anonymous identity: no certificate at all (the access point will say it requires one). */
const ANONYMOUS_LIFETIME = { notBefore: 0, notAfter: 8.64e15 };

export class FilesIdentityProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'files' as const;
  readonly canIssue = false;
  private readonly paths: { cert?: string; key?: string; ca?: string };
  private watcher: FSWatcher | null = null;
  private poll: LongInterval | null = null;
  private debounce: NodeJS.Timeout | null = null;
  /** Content hash of the last set offered or refused, so an unchanged set is not news. */
  private lastHash: string | null = null;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: FilesProviderOptions) {
    super();
    const abs = (p?: string) => (p ? resolve(p) : undefined);
    this.paths = { cert: abs(options.certPath), key: abs(options.keyPath), ca: abs(options.caPath) };
  }

  async start(): Promise<void> {
    await this.reload('start');
    if (this.options.watch !== false) this.watch();
    this.poll = setLongInterval(() => void this.reload('poll'), this.options.pollIntervalMs ?? 30_000, { ref: false });
  }

  async issue(): Promise<IdentityMaterial> {
    throw new AhError('ENROLL_INTERNAL', { detail: 'the files provider cannot issue certificates; it waits for new files' });
  }

  async stop(): Promise<void> {
    clearLongInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    await this.watcher?.close();
    this.watcher = null;
    this.removeAllListeners();
  }

  /** Read, verify and offer the set; serialized so two reloads never interleave. */
  reload(reason: string): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow(reason));
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<void> {
    if (reason !== 'start' && reason !== 'poll')
      this.options.onEvent?.('info', `identity files changed (${reason}): re-reading them`, { event: 'identity_files_changed', reason });
    const { cert, key, ca } = this.paths;
    const [certRead, keyRead, caRead] = await Promise.all([
      cert ? readIdentityFile(cert, 'a certificate') : null,
      key ? readIdentityFile(key, 'a private key') : null,
      ca ? readIdentityFile(ca, 'CA certificates') : null,
    ]);
    const hash = createHash('sha256');
    for (const r of [certRead, keyRead, caRead]) hash.update(r ? (r.ok ? `ok:${r.text}` : `err:${r.error.code}`) : 'none').update('\0');
    const digest = hash.digest('hex');
    if (digest === this.lastHash) {
      this.options.onUnchanged?.(reason);
      return;
    }
    this.lastHash = digest;
    try {
      this.emit('material', this.verify(certRead, keyRead, caRead));
    } catch (err) {
      this.emit('error', err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: String(err) }));
    }
  }

  private verify(certRead: Read | null, keyRead: Read | null, caRead: Read | null): IdentityMaterial {
    for (const r of [certRead, keyRead, caRead]) if (r && !r.ok) throw r.error;
    const text = (r: Read | null) => (r?.ok ? r.text : null);
    const { cert, key, ca } = this.paths;

    let bundlePem: string | null = null;
    if (ca) {
      try {
        bundlePem = parseCertificates(text(caRead)!)
          .map((c) => c.toString())
          .join('');
      } catch (err) {
        throw new AhError('ENROLL_UNREADABLE_PEM', { what: 'CA certificates', path: ca, detail: (err as Error).message });
      }
    }
    if (!cert && !key) {
      return {
        certPem: '',
        keyPem: '',
        bundlePem,
        summary: {
          provider: 'files',
          serial: '-',
          fingerprint: `anonymous:${createHash('sha256')
            .update(bundlePem ?? '')
            .digest('hex')}`,
          spiffeId: null,
          ...ANONYMOUS_LIFETIME,
        },
      };
    }
    if (!cert || !key) throw new AhError('ENROLL_FILE_NOT_FOUND', { path: cert ? '--key' : '--cert', dir: '.' });

    let chain: ReturnType<typeof parseCertificates>;
    try {
      chain = parseCertificates(text(certRead)!);
    } catch (err) {
      throw new AhError('ENROLL_UNREADABLE_PEM', { what: 'a certificate', path: cert, detail: (err as Error).message });
    }
    const broken = chainBreak(chain);
    if (broken) throw new AhError('ENROLL_CHAIN_BROKEN', { path: cert, detail: broken });
    let keyObject: ReturnType<typeof createPrivateKey>;
    try {
      keyObject = createPrivateKey(text(keyRead)!);
    } catch (err) {
      const detail = ((err as Error).message || 'not a private key').replace(/^error:\w+:/, '');
      throw new AhError('ENROLL_UNREADABLE_PEM', { what: 'a private key', path: key, detail });
    }
    if (!keyMatchesCertificate(chain[0]!, keyObject)) throw new AhError('ENROLL_KEY_MISMATCH');
    return {
      certPem: chain.map((c) => c.toString()).join(''),
      keyPem: text(keyRead)!,
      bundlePem,
      summary: summarize(chain[0]!, 'files'),
    };
  }

  private watch(): void {
    const byDir = new Map<string, Set<string>>();
    for (const p of [this.paths.cert, this.paths.key, this.paths.ca]) {
      if (!p) continue;
      const names = byDir.get(dirname(p)) ?? new Set<string>();
      names.add(basename(p));
      byDir.set(dirname(p), names);
    }
    // Watch the directories, not the files: rename-over and the Kubernetes `..data` swap replace
    // the inode, and a directory watch sees every way a writer replaces a file.
    this.watcher = watch([...byDir.keys()], {
      ignoreInitial: true,
      depth: 0,
      awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 },
    });
    this.watcher.on('all', (_event, path) => {
      const names = byDir.get(dirname(path));
      const name = basename(path);
      if (names?.has(name) || name.startsWith('..')) this.scheduleReload(`${_event} ${name}`);
    });
    this.watcher.on('error', (err) => {
      // inotify trouble (ENOSPC, EMFILE, an overlay mount): the periodic poll still sees changes.
      this.options.onEvent?.(
        'warn',
        `watching the identity files failed (${(err as Error).message}); relying on the ${Math.round((this.options.pollIntervalMs ?? 30_000) / 1000)} s poll`,
        { event: 'identity_files_watch_failed' },
      );
    });
  }

  private scheduleReload(reason: string): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(reason), this.options.debounceMs ?? 300);
  }
}
