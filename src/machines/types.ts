/**
 * Plain data shared by the machines and the engine. Everything here is JSON-safe: machine events
 * are logged and replayed, so they never carry sockets, keys or Error objects.
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

/** An error as machines keep it: a catalog code with its parameters. */
export interface MachineError {
  readonly code: string;
  readonly params: Readonly<Record<string, string>>;
  readonly retryable: boolean;
}
