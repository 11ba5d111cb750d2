/**
 * Identity material by fingerprint. Machines pass fingerprints around (keys never enter an event
 * or a log); the actors that open TLS connections look the material up here. The last few are kept
 * so a link opened a moment before a rotation still finds its own.
 */
import { EventEmitter } from 'eventemitter3';
import type { IdentityMaterial } from '../model/identity.js';

export class MaterialStore extends EventEmitter<{
  /** The same certificate came again with another trust bundle (a CA rotation). */
  bundleChanged: [IdentityMaterial];
}> {
  private readonly byFingerprint = new Map<string, IdentityMaterial>();
  private newest: IdentityMaterial | null = null;

  constructor(private readonly keep = 4) {
    super();
  }

  put(material: IdentityMaterial): void {
    const before = this.byFingerprint.get(material.summary.fingerprint);
    this.byFingerprint.delete(material.summary.fingerprint);
    this.byFingerprint.set(material.summary.fingerprint, material);
    this.newest = material;
    while (this.byFingerprint.size > this.keep) {
      this.byFingerprint.delete(this.byFingerprint.keys().next().value!);
    }
    if (before && before.bundlePem !== material.bundlePem) this.emit('bundleChanged', material);
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
