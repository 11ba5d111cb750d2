/**
 * Identities as the layers share them (ARCHITECTURE.md, layer 0): what machines know (the summary)
 * and what links present (the material). The summary is JSON-safe, since machine events are
 * logged and replayed; the material (with its key) never enters an event or a log.
 */

/** What the machines know of an identity: its public facts, never the key. */
export interface IdentitySummary {
  readonly provider: string;
  /** Hex serial number of the leaf certificate. */
  readonly serial: string;
  /** SHA-256 of the leaf's DER: names one exact piece of material. */
  readonly fingerprint: string;
  readonly spiffeId: string | null;
  /** Epoch milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
}

/** An identity in full: what a link presents. Lives in memory and the material store only. */
export interface IdentityMaterial {
  /** Leaf first, then intermediates, as PEM. */
  readonly certPem: string;
  /** PKCS#8 (or PKCS#1/SEC1) PEM of the leaf's private key. Never logged. */
  readonly keyPem: string;
  /**
   * PEM certificates trusted for peers (the CA bundle). Null when the provider has no opinion:
   * the dev identity, which trusts by first use instead.
   */
  readonly bundlePem: string | null;
  readonly summary: IdentitySummary;
}
