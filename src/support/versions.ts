/**
 * The versions a support request needs: ah, Node and the OpenSSL it is built with, the system's
 * `openssl` (the one the guide's commands run), and the operating system.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { arch, hostname, release, type } from 'node:os';
import { VERSION } from '../version.js';

export interface Versions {
  readonly ah: string;
  readonly node: string;
  readonly nodeOpenssl: string | null;
  readonly systemOpenssl: string | null;
  readonly os: { readonly type: string; readonly release: string; readonly arch: string; readonly name: string | null };
  readonly hostname: string;
}

function systemOpenssl(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('openssl', ['version'], { timeout: 10_000, encoding: 'utf8' }, (error, stdout) => resolve(error ? null : String(stdout).trim() || null));
  });
}

/** PRETTY_NAME of /etc/os-release (os-release(5)), when there is one. */
async function osName(): Promise<string | null> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      const m = /^PRETTY_NAME=(["']?)(.*)\1$/m.exec(await readFile(path, 'utf8'));
      if (m) return m[2]!;
    } catch {
      // try the next
    }
  }
  return null;
}

export async function versions(): Promise<Versions> {
  return {
    ah: VERSION,
    node: process.version,
    nodeOpenssl: process.versions.openssl ?? null,
    systemOpenssl: await systemOpenssl(),
    os: { type: type(), release: release(), arch: arch(), name: await osName() },
    hostname: hostname(),
  };
}
