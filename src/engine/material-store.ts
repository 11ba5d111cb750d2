/**
 * Identity material by fingerprint. Machines pass fingerprints around (keys never enter an event
 * or a log); the actors that open TLS connections look the material up here. The last few are kept
 * so a link opened a moment before a rotation still finds its own.
 */
import type { IdentityMaterial } from '../providers/identity-provider.js';

export class MaterialStore {
  private readonly byFingerprint = new Map<string, IdentityMaterial>();
  private newest: IdentityMaterial | null = null;

  constructor(private readonly keep = 4) {}

  put(material: IdentityMaterial): void {
    this.byFingerprint.delete(material.summary.fingerprint);
    this.byFingerprint.set(material.summary.fingerprint, material);
    this.newest = material;
    while (this.byFingerprint.size > this.keep) {
      this.byFingerprint.delete(this.byFingerprint.keys().next().value!);
    }
  }

  get(fingerprint: string): IdentityMaterial {
    const m = this.byFingerprint.get(fingerprint);
    if (!m) throw new Error(`no identity material with fingerprint ${fingerprint}`);
    return m;
  }

  get current(): IdentityMaterial | null {
    return this.newest;
  }
}
