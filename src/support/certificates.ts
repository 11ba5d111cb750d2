/**
 * Certificate details for the bundle: the identity each daemon uses, the dev identities kept in
 * the state dir, the access points executors trust on first use (their pins), and any certificate
 * or CA bundle file the operator names (`--cert`, `--ca`). Only CERTIFICATE blocks are read and
 * described (subject, issuer, SANs, serial, validity, SPKI SHA-256, as `status --show-cert`
 * does); a key file, or a key in a certificate file, is never read into the bundle.
 */
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { paths } from '../engine/state-dir.js';
import { describe, spiffeIdOf, splitPemCertificates, type CertificateDescription } from '../x509/certificate.js';
import type { DaemonAnswers } from './daemons.js';

export type DescribedCertificate = CertificateDescription & { readonly spiffeId: string | null };

export interface CertificateReport {
  /** The identity each daemon that answered uses. */
  readonly inUse: Array<{
    readonly role: 'executor' | 'access-point';
    readonly name: string;
    readonly provider: string | null;
    readonly certificate: DescribedCertificate | null;
    readonly note?: string;
  }>;
  /** Dev identities kept in the state dir (dev/<who>/cert.pem). */
  readonly devIdentities: Array<{ readonly path: string; readonly certificates: DescribedCertificate[] }>;
  /** Access points executors of this state dir trust on first use: the SPKI pin each is held to. */
  readonly pinnedAccessPoints: Array<{ readonly file: string; readonly pin: string }>;
  /** Files named with --cert and --ca: every certificate in them (a trust bundle has several). */
  readonly files: Array<{ readonly path: string; readonly kind: 'cert' | 'ca'; readonly certificates: DescribedCertificate[]; readonly problem?: string }>;
}

/** Longest file read for certificates: a CA bundle is kilobytes; anything larger is not one. */
const MAX_PEM_BYTES = 4 * 1024 * 1024;

function describeCert(pem: string | Buffer): DescribedCertificate {
  const cert = new X509Certificate(pem);
  return { ...describe(cert), spiffeId: spiffeIdOf(cert) };
}

/** Every CERTIFICATE block of a PEM text, described; blocks that do not parse are said. */
export function describePem(text: string): { certificates: DescribedCertificate[]; problem?: string } {
  const certificates: DescribedCertificate[] = [];
  const bad: number[] = [];
  splitPemCertificates(text).forEach((block, i) => {
    try {
      certificates.push(describeCert(block));
    } catch {
      bad.push(i + 1);
    }
  });
  if (bad.length) return { certificates, problem: `certificate ${bad.join(', ')} does not parse` };
  if (certificates.length === 0) return { certificates, problem: 'no CERTIFICATE block in it' };
  return { certificates };
}

async function readPem(path: string): Promise<{ certificates: DescribedCertificate[]; problem?: string }> {
  try {
    const data = await readFile(path);
    if (data.length > MAX_PEM_BYTES) return { certificates: [], problem: `larger than ${MAX_PEM_BYTES} bytes: not a certificate file` };
    return describePem(data.toString('utf8'));
  } catch (err) {
    return { certificates: [], problem: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function devIdentities(stateDir: string): Promise<CertificateReport['devIdentities']> {
  const dir = join(stateDir, 'dev');
  const out: Array<{ path: string; certificates: DescribedCertificate[] }> = [];
  for (const who of await listDir(dir)) {
    const path = join(dir, who, 'cert.pem');
    const { certificates } = await readPem(path);
    if (certificates.length) out.push({ path, certificates });
  }
  return out;
}

async function pins(stateDir: string): Promise<CertificateReport['pinnedAccessPoints']> {
  const dir = paths.knownAccessPoints(stateDir);
  const out: Array<{ file: string; pin: string }> = [];
  for (const name of (await listDir(dir)).filter((n) => n.endsWith('.pin'))) {
    try {
      out.push({ file: join(dir, name), pin: (await readFile(join(dir, name), 'utf8')).trim().slice(0, 200) });
    } catch {
      // gone since the listing
    }
  }
  return out;
}

/** The access point reports its identity by serial: its details come from a dev identity or a --cert file of that serial. */
function accessPointInUse(answers: DaemonAnswers, known: readonly DescribedCertificate[]): CertificateReport['inUse'][number] | null {
  const ap = answers.accessPoint;
  if (!ap) return null;
  const serial = ap.identity?.serial;
  const kept = known.find((c) => c.serial === serial) ?? null;
  return {
    role: 'access-point',
    name: 'access-point',
    provider: ap.identity?.provider ?? null,
    certificate: kept,
    ...(kept ? {} : { note: `the access point reports serial ${serial ?? 'none'}; give its certificate file with --cert for the details` }),
  };
}

export async function certificateReport(
  stateDir: string,
  answers: DaemonAnswers,
  files: { certs: readonly string[]; cas: readonly string[] },
): Promise<CertificateReport> {
  const dev = await devIdentities(stateDir);
  const inUse: Array<CertificateReport['inUse'][number]> = answers.executors.map((e) => ({
    role: 'executor' as const,
    name: e.name,
    provider: e.identity?.provider ?? null,
    certificate: e.certificate ? { ...e.certificate, spiffeId: e.identity?.spiffeId ?? null } : null,
  }));
  const named: Array<CertificateReport['files'][number]> = [];
  for (const [kind, list] of [
    ['cert', files.certs],
    ['ca', files.cas],
  ] as const) {
    for (const path of list) named.push({ path, kind, ...(await readPem(path)) });
  }
  const ap = accessPointInUse(
    answers,
    [...dev, ...named].flatMap((d) => d.certificates),
  );
  if (ap) inUse.push(ap);
  return { inUse, devIdentities: dev, pinnedAccessPoints: await pins(stateDir), files: named };
}
