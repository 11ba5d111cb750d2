/**
 * Identity material by fingerprint. Machines pass fingerprints around (keys never enter an event
 * or a log); the actors that open TLS connections look the material up here. Material is first
 * offered (verified, not yet taken) and becomes current only when the rotation machine accepts it:
 * a refused older certificate is never "the current one", and offers never push accepted material
 * out. The last few accepted are kept so a link opened a moment before a rotation still finds its own.
 */
import { EventEmitter } from 'eventemitter3';
import type { IdentityMaterial } from '../model/identity.js';

export class MaterialStore extends EventEmitter<{
  /** The same certificate came again with another trust bundle (a CA rotation). */
  bundleChanged: [IdentityMaterial];
}> {
  private readonly accepted = new Map<string, IdentityMaterial>();
  private readonly offered = new Map<string, IdentityMaterial>();
  private newest: IdentityMaterial | null = null;

  constructor(private readonly keep = 4) {
    super();
  }

  /** Verified material the rotation machine is about to hear of; findable, not yet current. */
  put(material: IdentityMaterial): void {
    const fingerprint = material.summary.fingerprint;
    const before = this.accepted.get(fingerprint) ?? this.offered.get(fingerprint);
    if (this.accepted.has(fingerprint)) {
      // Accepted already: only its trust bundle can have changed.
      this.accepted.set(fingerprint, material);
      if (this.newest?.summary.fingerprint === fingerprint) this.newest = material;
    } else {
      remember(this.offered, material, this.keep);
    }
    if (before && before.bundlePem !== material.bundlePem) this.emit('bundleChanged', material);
  }

  /** The rotation machine took this material: it is the current one now. */
  accept(fingerprint: string): void {
    const material = this.offered.get(fingerprint) ?? this.accepted.get(fingerprint);
    if (!material) return;
    this.offered.delete(fingerprint);
    remember(this.accepted, material, this.keep);
    this.newest = material;
  }

  get(fingerprint: string): IdentityMaterial {
    const m = this.accepted.get(fingerprint) ?? this.offered.get(fingerprint);
    if (!m) throw new Error(`no identity material with fingerprint ${fingerprint}`);
    return m;
  }

  /** The material last accepted (the identity in use), or null before the first. */
  get current(): IdentityMaterial | null {
    return this.newest;
  }
}

/** Insert as the newest entry, dropping the oldest beyond `keep`. */
function remember(map: Map<string, IdentityMaterial>, material: IdentityMaterial, keep: number): void {
  map.delete(material.summary.fingerprint);
  map.set(material.summary.fingerprint, material);
  while (map.size > keep) map.delete(map.keys().next().value!);
}
