/**
 * The local identity, whatever provider it comes from: the files and their modes (`ls -la`), that
 * certificate, key and CA parse (`openssl x509 -text`), that the key is the certificate's (the
 * guide's modulus comparison), that the chain verifies to the CA (`openssl verify -CAfile`), that
 * the names fit the policy, and how much life is left against the renewal threshold.
 */
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { access, constants, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { paths } from '../engine/state-dir.js';
import { AhError } from '../errors/ah-error.js';
import { DevIdentityProvider, devSpiffeId } from '../providers/dev.js';
import { formatDuration } from '../util/duration.js';
import { distinguishedName, keyMatchesCertificate, spkiPin, subjectAltNames } from '../x509/certificate.js';
import { parseCertificates } from '../x509/chain.js';
import { checkPeerChain, isChainProblem } from '../x509/chain-rules.js';
import { loneLeaf, loneLeafError } from '../x509/lone-leaf.js';
import type { DoctorSession, FileRead, IdentityProbe } from './session.js';
import { fail, pass, skip, type Check, type CheckOutcome } from './types.js';
import { formatMode, keyModeTooOpen, lifetimeOf, relativeTo, sanProblem, verifyChainTo } from './verify.js';

async function readIdentityFile(role: FileRead['role'], path: string): Promise<FileRead> {
  const abs = resolve(path);
  const errorFor = (err: unknown, what: string): AhError => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return new AhError('ENROLL_FILE_NOT_FOUND', { path: abs, dir: dirname(abs) });
    if (code === 'EACCES' || code === 'EPERM') return new AhError('ENROLL_PERMISSION_DENIED', { path: abs });
    return new AhError('ENROLL_UNREADABLE_PEM', { what, path: abs, detail: code ?? (err as Error).message });
  };
  const what = role === 'cert' ? 'a certificate' : role === 'key' ? 'a private key' : 'CA certificates';
  let mode: number;
  try {
    mode = (await stat(abs)).mode;
  } catch (err) {
    return { role, path: abs, error: errorFor(err, what) };
  }
  try {
    return { role, path: abs, mode, text: await readFile(abs, 'utf8') };
  } catch (err) {
    return { role, path: abs, mode, error: errorFor(err, what) };
  }
}

const WHAT = { cert: 'a certificate', key: 'a private key', ca: 'CA certificates' } as const;

function parseCerts(read: FileRead, errors: AhError[]): X509Certificate[] | undefined {
  if (read.text === undefined) return undefined;
  try {
    return parseCertificates(read.text);
  } catch (err) {
    errors.push(new AhError('ENROLL_UNREADABLE_PEM', { what: WHAT[read.role], path: read.path, detail: (err as Error).message }));
    return undefined;
  }
}

function parseKey(text: string | undefined, path: string, errors: AhError[]): KeyObject | undefined {
  if (text === undefined) return undefined;
  try {
    return createPrivateKey(text);
  } catch (err) {
    const detail = ((err as Error).message || 'not a private key').replace(/^error:\w+:/, '');
    errors.push(new AhError('ENROLL_UNREADABLE_PEM', { what: 'a private key', path, detail }));
    return undefined;
  }
}

/** The nearest directory that exists on the way up, and whether this user may create files in it. */
async function writableProblem(dir: string): Promise<AhError | undefined> {
  let at = resolve(dir);
  for (;;) {
    try {
      await access(at, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(at) === at) return new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: at, detail: code ?? String(err) });
      at = dirname(at);
    }
  }
}

/** A fresh dev certificate, made as `enroll` makes it, in a directory removed afterwards. */
async function freshDev(role: 'executor' | 'access-point', name: string, ttlMs: number | undefined): Promise<{ certPem: string; keyPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ah-doctor-'));
  try {
    const material = await new DevIdentityProvider({ role, name, dir, ttlMs }).issue();
    return { certPem: material.certPem, keyPem: material.keyPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The identity the doctor checks, loaded the way each provider loads it (one branch per provider,
 * each a few lines that read the same material the daemon would). Longer than a screen because the
 * providers are side by side, which is how the doctor's findings compare them.
 */
export async function loadIdentity(ctx: DoctorSession): Promise<IdentityProbe> {
  const { config } = ctx;
  const identity = config.identity;
  const parseErrors: AhError[] = [];
  const files: FileRead[] = [];
  let extraCaPem: string | undefined;
  if (config.extraCaPath) {
    const ca = await readIdentityFile('ca', config.extraCaPath);
    files.push(ca);
    const certs = parseCerts(ca, parseErrors);
    if (certs) extraCaPem = certs.map((c) => c.toString()).join('');
  }

  if (identity.kind === 'files') {
    const reads = await Promise.all(
      (
        [
          ['cert', identity.certPath],
          ['key', identity.keyPath],
          ['ca', identity.caPath],
        ] as const
      )
        .filter((e): e is readonly ['cert' | 'key' | 'ca', string] => Boolean(e[1]))
        .map(([role, path]) => readIdentityFile(role, path)),
    );
    files.push(...reads);
    const by = (role: FileRead['role']) => reads.find((r) => r.role === role);
    const chain = by('cert') && parseCerts(by('cert')!, parseErrors);
    const key = by('key') && parseKey(by('key')!.text, by('key')!.path, parseErrors);
    const bundle = by('ca') && parseCerts(by('ca')!, parseErrors);
    return {
      kind: 'files',
      origin: identity.certPath ? `--cert ${resolve(identity.certPath)}` : 'no client certificate',
      files,
      certPem: chain?.map((c) => c.toString()).join(''),
      keyPem: by('key')?.text,
      chain,
      key,
      bundle,
      bundlePem: bundle?.map((c) => c.toString()).join(''),
      bundleOrigin: identity.caPath ? `--ca ${resolve(identity.caPath)}` : undefined,
      parseErrors,
      anonymous: !identity.certPath && !identity.keyPath,
    };
  }

  if (identity.kind === 'dev') {
    const devDir = paths.devIdentity(config.stateDir, config.role, config.name);
    let certPem: string | undefined;
    let keyPem: string | undefined;
    let origin: string;
    // The access point keeps its dev key across restarts (executors trust it by key): check that one.
    const kept =
      config.role === 'access-point'
        ? await Promise.all([readIdentityFile('cert', join(devDir, 'cert.pem')), readIdentityFile('key', join(devDir, 'key.pem'))])
        : null;
    if (kept?.every((r) => r.error?.code !== 'ENROLL_FILE_NOT_FOUND')) {
      files.push(...kept);
      certPem = kept[0].text;
      keyPem = kept[1].text;
      origin = `dev identity kept in ${devDir}`;
    } else {
      try {
        ({ certPem, keyPem } = await freshDev(config.role, config.name, identity.certTtlMs));
      } catch (err) {
        return {
          kind: 'dev',
          origin: 'dev identity',
          files,
          parseErrors,
          anonymous: false,
          unavailable: { reason: `cannot make a dev certificate: ${(err as Error).message}` },
          extraCaPem,
        };
      }
      origin = `dev identity (self-signed, made at each start${config.role === 'access-point' ? ' once, then its key is kept' : ''}; checked on a fresh one)`;
    }
    const chain = certPem !== undefined ? parseCerts({ role: 'cert', path: join(devDir, 'cert.pem'), text: certPem }, parseErrors) : undefined;
    const key = parseKey(keyPem, join(devDir, 'key.pem'), parseErrors);
    return {
      kind: 'dev',
      origin,
      files,
      certPem,
      keyPem,
      chain,
      key,
      parseErrors,
      anonymous: false,
      devDir,
      devDirProblem: await writableProblem(config.stateDir),
      extraCaPem,
    };
  }

  // spiffe, vault and exec: the material their checks obtained.
  const probe = identity.kind === 'spiffe' ? await ctx.spiffe() : identity.kind === 'vault' ? await ctx.vault() : await ctx.exec();
  const material = probe.material;
  if (!material) {
    return {
      kind: identity.kind,
      origin: identity.kind,
      files,
      parseErrors,
      anonymous: false,
      extraCaPem,
      unavailable: {
        reason: `no ${SOURCE_OF[identity.kind]} (see the ${identity.kind} checks)`,
        error: probe.materialError,
      },
    };
  }
  const chain = parseCerts({ role: 'cert', path: probe.origin, text: material.certPem }, parseErrors);
  const bundle = material.bundlePem ? parseCerts({ role: 'ca', path: probe.origin, text: material.bundlePem }, parseErrors) : undefined;
  return {
    kind: identity.kind,
    origin: probe.origin,
    files,
    certPem: material.certPem,
    keyPem: material.keyPem,
    chain,
    key: parseKey(material.keyPem, probe.origin, parseErrors),
    bundle,
    bundlePem: material.bundlePem ?? undefined,
    bundleOrigin: identity.kind === 'spiffe' ? 'the SVID trust bundle' : identity.kind === 'vault' ? "Vault's CA chain" : `the CA bundle in ${probe.origin}`,
    parseErrors,
    anonymous: false,
    extraCaPem,
  };
}

const SOURCE_OF = { spiffe: 'SVID from the Workload API', vault: 'certificate from Vault', exec: 'identity from the command' } as const;

function fileSummary(f: FileRead): string {
  return `${f.role} ${f.path}${f.mode !== undefined ? ` (${formatMode(f.mode)})` : ''}`;
}

export const identityFilesCheck: Check<DoctorSession> = {
  name: 'identity.files',
  title: 'identity files',
  async run(ctx) {
    const id = await ctx.identity();
    const broken = id.files.find((f) => f.error);
    if (broken) return fail(broken.error!, `${broken.role} file: ${broken.error!.message}`);
    const loose = id.files.find((f) => f.role === 'key' && f.mode !== undefined && keyModeTooOpen(f.mode));
    if (loose) {
      return fail(
        new AhError('ENROLL_KEY_FILE_MODE', { path: loose.path, mode: formatMode(loose.mode!) }),
        `key ${loose.path} is mode ${formatMode(loose.mode!)}: group or others may read it (ssh would refuse it; use 0600)`,
      );
    }
    const listed = id.files.map(fileSummary).join(', ');
    if (id.kind === 'dev') {
      if (id.devDirProblem)
        return fail(id.devDirProblem, `dev identity: cannot write the state dir (${id.devDirProblem.params.path}: ${id.devDirProblem.params.detail})`);
      return pass(`${id.origin}; state dir ${ctx.config.stateDir} is writable${listed ? `; ${listed} readable` : ''}`);
    }
    if (id.kind === 'spiffe' || id.kind === 'vault' || id.kind === 'exec') {
      const source =
        id.kind === 'spiffe'
          ? 'the SVID comes from the Workload API'
          : id.kind === 'vault'
            ? 'the certificate comes from Vault'
            : 'the identity comes from the command';
      return listed ? pass(`${listed} readable; ${source}`) : skip(`${id.kind} identity: no files, ${source}`);
    }
    if (id.anonymous) return pass(`${listed} readable (no --cert/--key)`);
    return pass(`${listed} readable; the key is private to its owner`);
  },
};

function keyDescription(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') return `EC ${d.namedCurve ?? ''}`.trim();
  if (type === 'rsa' || type === 'rsa-pss') return `RSA ${d.modulusLength ?? ''}`.trim();
  return type.toUpperCase();
}

/** Skip when there is nothing to check; the reason names the check that says why. */
function unavailable(id: IdentityProbe): CheckOutcome | null {
  if (id.unavailable) return skip(id.unavailable.reason);
  if (id.anonymous) return skip('no --cert/--key: nothing to check');
  if (!id.chain || !id.key) return skip('the certificate or key did not parse (see above)');
  return null;
}

export const identityParseCheck: Check<DoctorSession> = {
  name: 'identity.parse',
  title: 'certificate, key, CA parse',
  async run(ctx) {
    const id = await ctx.identity();
    if (id.unavailable) return skip(id.unavailable.reason);
    if (id.files.some((f) => f.error)) return skip('a file could not be read (see identity files)');
    if (id.parseErrors.length) return fail(id.parseErrors[0]!, id.parseErrors.map((e) => e.message).join('; '));
    if (id.anonymous) {
      return fail(
        new AhError('ENROLL_CLIENT_CERT_REQUIRED'),
        `no --cert/--key: the executor would connect without a client certificate, which the access point refuses${id.bundle ? ` (CA bundle: ${id.bundle.length} certificate${id.bundle.length === 1 ? '' : 's'})` : ''}`,
      );
    }
    const chain = id.chain!;
    const parts = [
      `certificate ${distinguishedName(chain[0]!.subject)}${chain.length > 1 ? ` + ${chain.length - 1} intermediate${chain.length > 2 ? 's' : ''}` : ''}`,
      `key ${keyDescription(id.key!)}`,
    ];
    if (id.bundle) parts.push(`CA bundle ${id.bundle.length} certificate${id.bundle.length === 1 ? '' : 's'}`);
    if (id.extraCaPem) parts.push('--ca parsed');
    return pass(parts.join('; '));
  },
};

export const identityKeyCheck: Check<DoctorSession> = {
  name: 'identity.key',
  title: 'key matches certificate',
  async run(ctx) {
    const id = await ctx.identity();
    const none = unavailable(id);
    if (none) return none;
    const leaf = id.chain![0]!;
    let matches = false;
    try {
      matches = keyMatchesCertificate(leaf, id.key!);
    } catch {
      matches = false;
    }
    const keyPath = id.files.find((f) => f.role === 'key')?.path ?? 'the key';
    if (!matches) return fail(new AhError('ENROLL_KEY_MISMATCH'), `${keyPath} is not the key of the certificate (certificate public key ${spkiPin(leaf)})`);
    return pass(`the key is the certificate's (public key ${spkiPin(leaf)})`);
  },
};

export const identityChainCheck: Check<DoctorSession> = {
  name: 'identity.chain',
  title: 'chain verifies to the CA',
  async run(ctx) {
    const id = await ctx.identity();
    const none = unavailable(id);
    if (none) return none;
    if (id.kind === 'dev') return skip('dev identity: self-signed, admitted without CA verification (dev mode)');
    if (!id.bundle) {
      return skip(
        ctx.config.role === 'access-point'
          ? 'no --ca: the access point has no CA to verify executors with (it admits any certificate)'
          : 'no CA bundle to verify against',
      );
    }
    const verdict = verifyChainTo(id.chain!, id.bundle, ctx.now());
    const certPath = id.files.find((f) => f.role === 'cert')?.path ?? id.origin;
    if (verdict.ok) {
      // The same leaf and chain rules the peer applies (x509/chain-rules.ts), named before it refuses.
      const rules = checkPeerChain(
        id.chain!.map((c) => c.raw),
        ctx.config.role,
      );
      if (isChainProblem(rules) && rules.kind === 'profile') {
        const error =
          ctx.config.role === 'executor'
            ? new AhError('ENROLL_CLIENT_CERT_INVALID', { reason: rules.rule })
            : new AhError('ENROLL_TLS_VERIFY_FAILED', { reason: `access point certificate: ${rules.rule}` });
        return fail(error, `chains to ${id.bundleOrigin}, but ${rules.rule}`);
      }
      const names = verdict.path.map((c) => /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? distinguishedName(c.subject));
      return pass(`${names.join(' → ')} (root in ${id.bundleOrigin})`);
    }
    switch (verdict.reason) {
      case 'broken':
        return fail(new AhError('ENROLL_CHAIN_BROKEN', { path: certPath, detail: verdict.detail }), verdict.detail);
      case 'incomplete':
        return fail(new AhError('ENROLL_CHAIN_INCOMPLETE'), `${verdict.detail} (${id.bundleOrigin})`);
      case 'ca-not-valid':
        return fail(new AhError('ENROLL_CERT_NOT_VALID_NOW'), verdict.detail);
      case 'unknown': {
        const lone = id.chain!.length === 1 ? loneLeaf([id.chain![0]!.raw], id.bundle) : null;
        if (lone && ctx.config.role === 'executor') {
          const error = loneLeafError(lone, 'executor', "the access point's --ca");
          return fail(
            error,
            `${certPath} holds only the leaf: its issuer ${lone.issuer} (authority key id ${lone.authorityKeyId ?? 'none'}) is not in ${id.bundleOrigin}`,
          );
        }
        if (ctx.config.role === 'access-point') {
          return pass(`${verdict.detail} (--ca is the executors' CA); executors must trust this issuer with their own --ca`);
        }
        return fail(
          new AhError('ENROLL_CLIENT_CERT_REJECTED'),
          `${verdict.detail} (${id.bundleOrigin}); the access point admits it only if its own --ca holds that issuer`,
        );
      }
    }
  },
};

export const identitySanCheck: Check<DoctorSession> = {
  name: 'identity.san',
  title: 'SANs match the policy',
  async run(ctx) {
    const id = await ctx.identity();
    const none = unavailable(id);
    if (none) return none;
    const { config } = ctx;
    const leaf = id.chain![0]!;
    const exactUri =
      config.identity.kind === 'vault' ? config.identity.uriSan : config.identity.kind === 'dev' ? devSpiffeId(config.role, config.name) : undefined;
    const problem = sanProblem(leaf, { role: config.role, prefix: config.role === 'executor' ? config.executorSanUriPrefix : undefined, exactUri });
    if (problem) return fail(new AhError('ENROLL_SAN_MISMATCH'), problem);
    const san = subjectAltNames(leaf);
    if (config.role === 'access-point') {
      return pass(`names ${[...san.uris.map((u) => `URI:${u}`), ...san.dns.map((d) => `DNS:${d}`), ...san.ips.map((i) => `IP:${i}`)].join(', ')}`);
    }
    const under = config.executorSanUriPrefix
      ? ` (under --executor-san-uri-prefix ${config.executorSanUriPrefix})`
      : ' (one URI SAN, as the access point requires)';
    return pass(`executor ID ${san.uris[0]}${under}`);
  },
};

export const identityValidityCheck: Check<DoctorSession> = {
  name: 'identity.validity',
  title: 'validity and renewal',
  async run(ctx) {
    const id = await ctx.identity();
    const none = unavailable(id);
    if (none) return none;
    const now = ctx.now();
    const leaf = id.chain![0]!;
    const threshold = ctx.config.renewalThreshold;
    const life = lifetimeOf(leaf, now, threshold);
    const iso = (ms: number) => new Date(ms).toISOString();
    const details = {
      notBefore: iso(life.notBefore),
      notAfter: iso(life.notAfter),
      lifetime: formatDuration(life.lifetimeMs),
      renewAt: iso(life.renewAt),
      threshold,
    };
    if (id.kind === 'dev' && (life.state !== 'valid' || life.overdue)) {
      // The access point's kept dev certificate is made anew (same key) whenever it starts or renews.
      return pass(
        `dev certificate valid ${iso(life.notBefore)} to ${iso(life.notAfter)}; the access point makes a new one at start and at ${Math.round(threshold * 100)}% of its lifetime`,
        { details },
      );
    }
    if (life.state === 'expired') {
      return fail(new AhError('ENROLL_CERT_NOT_VALID_NOW'), `expired ${iso(life.notAfter)} (${relativeTo(life.notAfter, now)}); compare with date -u`, {
        details,
      });
    }
    if (life.state === 'not-yet-valid') {
      return fail(
        new AhError('ENROLL_CERT_NOT_VALID_NOW'),
        `not valid until ${iso(life.notBefore)} (${relativeTo(life.notBefore, now)}): is this machine's clock behind?`,
        { details },
      );
    }
    const lifetime = `${formatDuration(life.leftMs)} left of ${formatDuration(life.lifetimeMs)}, until ${iso(life.notAfter)}`;
    if (life.overdue) {
      const serial = leaf.serialNumber.toUpperCase();
      return fail(
        new AhError('ENROLL_RENEWAL_OVERDUE', { serial, renewAt: iso(life.renewAt), left: formatDuration(life.leftMs) }),
        `${lifetime}; renewal was due at ${Math.round(threshold * 100)}% of its lifetime (${relativeTo(life.renewAt, now)})`,
        { details },
      );
    }
    return pass(`${lifetime}; renews at ${Math.round(threshold * 100)}% ±5% of its lifetime (${relativeTo(life.renewAt, now)})`, { details });
  },
};
