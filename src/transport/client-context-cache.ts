/**
 * The executor's TLS secure contexts, one per identity material. Building one parses the
 * certificate, the private key and the trust bundle (and OpenSSL checks that the key belongs to
 * the certificate): work worth doing once per material, not once per dial. A reconnect, or a
 * rotation's retry, reuses the context of the material it presents; new material (a rotation, or
 * the same certificate with a new trust bundle, which the store keeps as a new object) gets a new
 * one. Keyed weakly by the material object, so material the store lets go takes its context along.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';

/** What a context is made of: the executor's certificate and key (none when anonymous). */
export interface ContextMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ContextSettings {
  /** Trust bundle to verify the access point against; none when trusting on first use. */
  readonly caPem?: string;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

interface Entry {
  readonly caPem: string | undefined;
  readonly minVersion: string;
  readonly context: SecureContext;
}

export class ClientContextCache {
  private readonly byMaterial = new WeakMap<ContextMaterial, Entry>();

  /** `create` is Node's, unless a test wants to count the calls. */
  constructor(private readonly create: (options: SecureContextOptions) => SecureContext = createSecureContext) {}

  /** The context for this material and settings: the cached one, or a new one (then cached). */
  contextFor(material: ContextMaterial, settings: ContextSettings): SecureContext {
    const minVersion = settings.minVersion ?? 'TLSv1.3';
    const hit = this.byMaterial.get(material);
    if (hit && hit.caPem === settings.caPem && hit.minVersion === minVersion) return hit.context;
    const context = this.create({
      // An anonymous executor (files identity without --cert/--key) presents no certificate.
      ...(material.certPem ? { cert: material.certPem, key: material.keyPem } : {}),
      ...(settings.caPem ? { ca: settings.caPem } : {}),
      minVersion,
    });
    this.byMaterial.set(material, { caPem: settings.caPem, minVersion, context });
    return context;
  }
}
