/**
 * The PKI secrets engine: `POST /v1/<mount>/issue/<role>` and
 * `POST /v1/<mount>/issuer/<ref>/issue/<role>` (docs/vault-api.md §PKI issue).
 *
 * Each request gets a fresh key pair and a certificate signed by a real CA (see pki-ca.ts), after
 * the role's rules (pki-rules.ts). The answer is Vault's: `data` holds `certificate`,
 * `issuing_ca`, `ca_chain` (issuing CA first, root last), `private_key` (PKCS#1 `RSA PRIVATE KEY` /
 * SEC1 `EC PRIVATE KEY` unless `private_key_format=pkcs8`), `private_key_type`, `serial_number`
 * (colon hex) and `expiration` (Unix seconds); `format=der` gives base64 DER instead, and
 * `pem_bundle` puts key + certificate + chain into `certificate`. Order of checks follows
 * `pathIssue`/`pathIssueSignCert`: unknown role → key type `any` → issuer → format → names/TTL.
 */
import { randomUUID } from 'node:crypto';
import { x509 } from '../../../src/x509/peculiar.js';
import { errorResponse, internalError, type LogicalResponse } from './envelope.js';
import { SYSTEM_DEFAULT_TTL_SECONDS, SYSTEM_MAX_TTL_SECONDS, optionSeconds, type VaultDuration } from './durations.js';
import {
  checkKeyBits,
  colonHex,
  createIntermediate,
  createRoot,
  defaultKeyBits,
  floorSecond,
  generateLeafKey,
  newSerialHex,
  pem,
  signLeaf,
  type CaCert,
  type KeyType,
} from './pki-ca.js';
import { boolField, creationBundle, resolveRole, type PkiRoleConfig, type ResolvedRole } from './pki-rules.js';

export interface PkiMountConfig {
  /** Mount path. Default `pki` (the issue's `--vault-path pki/issue/<role>`). */
  mount?: string;
  /** CA key type. Default `rsa` (Vault's default for `root/generate`). */
  caKeyType?: KeyType;
  /** Default 2048 for rsa, 256 for ec (only 256/384/521 for a CA). */
  caKeyBits?: number;
  /**
   * Issue from an intermediate signed by the root (the guide's `pki_int`), so `ca_chain` is
   * `[intermediate, root]`. Default true. With false the root issues and `ca_chain` is `[root]`.
   */
  intermediate?: boolean;
  rootCommonName?: string;
  intermediateCommonName?: string;
  /** Validity of the root and of the intermediate. Defaults 87600h / 43800h (the Vault tutorial's). */
  rootTtl?: VaultDuration;
  intermediateTtl?: VaultDuration;
  /** The issuing CA's `issuer_name`, usable as `<ref>` in `issuer/<ref>/issue/<role>`. */
  issuerName?: string;
  /** `leaf_not_after_behavior` of the issuer: Vault's default `err`. */
  leafNotAfterBehavior?: 'err' | 'truncate' | 'permit';
  /** The mount's `default_lease_ttl` / `max_lease_ttl`. Default 768h each. */
  defaultLeaseTtl?: VaultDuration;
  maxLeaseTtl?: VaultDuration;
}

/** One certificate the fake issued (for tests to assert on; never sent anywhere). */
export interface IssuedCertificate {
  readonly role: string;
  readonly serialNumber: string;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  readonly ips: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly certificatePem: string;
}

const KEY_USAGE_BITS: Record<string, number> = {
  digitalsignature: x509.KeyUsageFlags.digitalSignature,
  contentcommitment: x509.KeyUsageFlags.nonRepudiation,
  keyencipherment: x509.KeyUsageFlags.keyEncipherment,
  dataencipherment: x509.KeyUsageFlags.dataEncipherment,
  keyagreement: x509.KeyUsageFlags.keyAgreement,
  certsign: x509.KeyUsageFlags.keyCertSign,
  crlsign: x509.KeyUsageFlags.cRLSign,
  encipheronly: x509.KeyUsageFlags.encipherOnly,
  decipheronly: x509.KeyUsageFlags.decipherOnly,
};

function keyUsageBits(names: readonly string[]): number {
  return names.reduce((bits, n) => bits | (KEY_USAGE_BITS[n.toLowerCase().replace(/^keyusage/, '')] ?? 0), 0);
}

/** Vault's `GenericNameRegex`: what a role or issuer name in a path may look like. */
export const GENERIC_NAME = /^\w(([\w.-]+)?\w)?$/;

export class PkiBackend {
  readonly mount: string;
  readonly root: CaCert;
  readonly issuer: CaCert;
  /** The issuer's chain, issuing CA first (what `ca_chain` holds). */
  readonly chain: readonly CaCert[];
  readonly issued: IssuedCertificate[] = [];
  private readonly roles = new Map<string, ResolvedRole>();
  private readonly leafNotAfterBehavior: 'err' | 'truncate' | 'permit';
  private readonly ttls: { defaultTtl: number; maxTtl: number };

  private constructor(
    config: PkiMountConfig,
    root: CaCert,
    issuer: CaCert,
    private readonly now: () => number,
  ) {
    this.mount = config.mount ?? 'pki';
    this.root = root;
    this.issuer = issuer;
    this.chain = issuer === root ? [root] : [issuer, root];
    this.leafNotAfterBehavior = config.leafNotAfterBehavior ?? 'err';
    this.ttls = {
      defaultTtl: optionSeconds(config.defaultLeaseTtl, SYSTEM_DEFAULT_TTL_SECONDS),
      maxTtl: optionSeconds(config.maxLeaseTtl, SYSTEM_MAX_TTL_SECONDS),
    };
  }

  static async create(config: PkiMountConfig, roles: Record<string, PkiRoleConfig>, now: () => number): Promise<PkiBackend> {
    const keyType = config.caKeyType ?? 'rsa';
    const keyBits = config.caKeyBits ?? defaultKeyBits(keyType);
    if (keyType === 'ec' && ![256, 384, 521].includes(keyBits)) throw new Error(`fake-vault: CA ec key bits must be 256, 384 or 521`);
    checkKeyBits(keyType, keyBits);
    // Vault backdates CA certificates by 30s like leaves; floor to whole seconds as X.509 will.
    const start = now();
    const notBefore = floorSecond(start - 30_000);
    const root = await createRoot({
      commonName: config.rootCommonName ?? 'Fake Vault Root CA',
      keyType,
      keyBits,
      notBefore,
      notAfter: floorSecond(start + optionSeconds(config.rootTtl, 87600 * 3600) * 1000),
      issuerName: config.intermediate === false ? config.issuerName : undefined,
    });
    const issuer =
      config.intermediate === false
        ? root
        : await createIntermediate(root, {
            commonName: config.intermediateCommonName ?? 'Fake Vault Intermediate CA',
            keyType,
            keyBits,
            notBefore,
            notAfter: floorSecond(start + optionSeconds(config.intermediateTtl, 43800 * 3600) * 1000),
            issuerName: config.issuerName,
          });
    const backend = new PkiBackend(config, root, issuer, now);
    for (const [name, role] of Object.entries(roles)) backend.setRole(name, role);
    return backend;
  }

  /** `vault write <mount>/roles/<name> …` (replaces the role). */
  setRole(name: string, config: PkiRoleConfig): void {
    const role = resolveRole(config);
    if (role.keyType !== 'any') checkKeyBits(role.keyType, role.keyBits);
    this.roles.set(name, role);
  }

  deleteRole(name: string): boolean {
    return this.roles.delete(name);
  }

  /** `issuer_ref` → issuer: `default`, the issuer's id, or its name (pki/path_fetch_issuers.go). */
  private resolveIssuer(ref: string): CaCert {
    const issuer = this.issuer;
    if (ref === 'default' || ref === issuer.id || (issuer.name !== '' && ref === issuer.name)) return issuer;
    // A UserError returned as an error (not an ErrorResponse) → 500, multierror-wrapped.
    throw internalError(`could not fetch the CA certificate (was one set?): unable to find PKI issuer for reference: ${ref}`);
  }

  /**
   * Issue one certificate. `issuerRef` is set for the `issuer/<ref>/issue/<role>` form; the legacy
   * `issue/<role>` form uses the role's issuer (`default`).
   */
  async issue(roleName: string, body: Record<string, unknown>, issuerRef: string | undefined): Promise<LogicalResponse> {
    const role = this.roles.get(roleName);
    if (!role) throw errorResponse(`unknown role: ${roleName}`);
    if (role.keyType === 'any') throw errorResponse('role key type "any" not allowed for issuing certificates, only signing');
    const ca = this.resolveIssuer(issuerRef ?? role.issuerRef);

    const format = body.format === undefined || body.format === null || body.format === '' ? 'pem' : String(body.format);
    if (!['pem', 'der', 'pem_bundle'].includes(format)) {
      throw errorResponse('the "format" path parameter must be "pem", "der", or "pem_bundle"');
    }
    const pkcs8 = body.private_key_format === 'pkcs8';

    const nowMs = this.now();
    const bundle = creationBundle(
      role,
      body,
      { notBefore: ca.notBefore, notAfter: ca.notAfter, leafNotAfterBehavior: this.leafNotAfterBehavior },
      this.ttls,
      nowMs,
    );

    const key = await generateLeafKey(role.keyType, role.keyBits);
    const subject: x509.JsonName = [];
    if (role.organization.length > 0) subject.push({ O: [...role.organization] });
    if (role.ou.length > 0) subject.push({ OU: [...role.ou] });
    if (bundle.commonName !== '') subject.push({ CN: [bundle.commonName] });
    if (bundle.serialNumber !== '') subject.push({ '2.5.4.5': [bundle.serialNumber] });
    const serialHex = newSerialHex();
    const ekus: string[] = [];
    if (role.serverFlag) ekus.push(x509.ExtendedKeyUsage.serverAuth);
    if (role.clientFlag) ekus.push(x509.ExtendedKeyUsage.clientAuth);
    const cert = await signLeaf(ca, {
      serialHex,
      subject,
      notBefore: floorSecond(bundle.notBefore),
      notAfter: floorSecond(bundle.notAfter),
      spkiDer: key.spkiDer,
      dnsNames: bundle.dnsNames,
      emails: bundle.emails,
      ips: bundle.ips,
      uris: bundle.uris,
      keyUsage: keyUsageBits(role.keyUsage),
      extKeyUsage: ekus,
      basicConstraints: role.basicConstraintsValidForNonCa,
    });

    const certDer = Buffer.from(cert.rawData);
    const chain = boolField(body.remove_roots_from_chain) ? this.chainFor(ca).filter((c) => !c.selfSigned) : this.chainFor(ca);
    const keyDer = key.privateKey.export(
      pkcs8 ? { type: 'pkcs8', format: 'der' } : key.type === 'rsa' ? { type: 'pkcs1', format: 'der' } : { type: 'sec1', format: 'der' },
    );
    const keyLabel = pkcs8 ? 'PRIVATE KEY' : key.type === 'rsa' ? 'RSA PRIVATE KEY' : 'EC PRIVATE KEY';

    const data: Record<string, unknown> = {
      expiration: Math.floor(cert.notAfter.getTime() / 1000),
      serial_number: colonHex(serialHex),
      private_key_type: key.type,
    };
    if (format === 'der') {
      data.certificate = certDer.toString('base64');
      data.issuing_ca = ca.der.toString('base64');
      if (chain.length > 0) data.ca_chain = chain.map((c) => c.der.toString('base64'));
      data.private_key = keyDer.toString('base64');
    } else {
      const certPem = pem(certDer, 'CERTIFICATE');
      const keyPem = pem(keyDer, keyLabel);
      data.issuing_ca = ca.pem;
      if (chain.length > 0) data.ca_chain = chain.map((c) => c.pem);
      data.private_key = keyPem;
      // pem_bundle: `CertBundle.ToPEMBundle()` — key, certificate, then the chain, joined by "\n".
      data.certificate = format === 'pem_bundle' ? [keyPem, certPem, ...chain.map((c) => c.pem)].join('\n') : certPem;
    }

    this.issued.push({
      role: roleName,
      serialNumber: colonHex(serialHex),
      commonName: bundle.commonName,
      dnsNames: bundle.dnsNames,
      uris: bundle.uris,
      ips: bundle.ips,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      certificatePem: pem(certDer, 'CERTIFICATE'),
    });

    const resp: LogicalResponse = { data, warnings: bundle.warnings, mountType: 'pki' };
    if (role.generateLease) {
      resp.leaseId = `${this.mount}/issue/${roleName}/${randomUUID()}`;
      resp.leaseDuration = Math.max(0, Math.floor((cert.notAfter.getTime() - this.now()) / 1000));
    }
    return resp;
  }

  /** The chain Vault keeps for an issuer: itself, then its parents up to the root. */
  private chainFor(ca: CaCert): CaCert[] {
    return ca === this.issuer ? [...this.chain] : [ca];
  }
}
