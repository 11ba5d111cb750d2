/**
 * PKI role rules: which names, SANs and TTLs a role lets through, with Vault's exact refusals.
 *
 * A port of the checks in `builtin/logical/pki/issuing/issue_common.go` (docs/vault-api.md
 * §PKI issue): `GenerateCreationBundle` (order of checks and messages), `ValidateNames`
 * (allowed_domains, allow_subdomains, allow_bare_domains, allow_glob_domains, allow_localhost,
 * allow_any_name, enforce_hostnames, wildcards), `ValidateURISAN` (allowed_uri_sans globs) and
 * `GetCertificateNotAfter` (TTL clamp with the warning `TTL "<ttl>" is longer than permitted maxTTL
 * "<max>", so maxTTL is being used`). Not ported: identity templates, token display names, CSR
 * paths, user IDs.
 */
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { errorResponse } from './envelope.js';
import { goDuration, goQuote, optionSeconds, parseDurationSeconds, type VaultDuration } from './durations.js';
import type { KeyType } from './pki-ca.js';

/** A PKI role as `vault write <mount>/roles/<name> …` would define it (camelCase of Vault's fields). */
export interface PkiRoleConfig {
  allowedDomains?: readonly string[];
  allowSubdomains?: boolean;
  allowBareDomains?: boolean;
  allowGlobDomains?: boolean;
  allowAnyName?: boolean;
  /** Default true, as in Vault. */
  allowLocalhost?: boolean;
  /** Default true. */
  allowWildcardCertificates?: boolean;
  /** Default true. */
  enforceHostnames?: boolean;
  /** Default true. */
  allowIpSans?: boolean;
  /** URI SAN globs (`spiffe://example.org/ah/*`). Empty = URI SANs refused. */
  allowedUriSans?: readonly string[];
  /** `serial_number` subject attribute globs. Empty = refused. */
  allowedSerialNumbers?: readonly string[];
  /** Default true. */
  requireCn?: boolean;
  /** Default `["email","hostname"]`; `["disabled"]` turns CN checks off. */
  cnValidations?: readonly ('email' | 'hostname' | 'disabled')[];
  /** Role `ttl` (used when the request gives none). Absent → the mount's default (768h). */
  ttl?: VaultDuration;
  /** Role `max_ttl`. Absent → the mount's max (768h). */
  maxTtl?: VaultDuration;
  /** Default `rsa` (Vault's default). `any` is refused by `issue`, as in Vault. */
  keyType?: KeyType | 'any';
  /** Default 2048 for rsa, 256 for ec. */
  keyBits?: number;
  /** Default `["DigitalSignature","KeyAgreement","KeyEncipherment"]`. */
  keyUsage?: readonly string[];
  /** Default true / true (EKU serverAuth, clientAuth). */
  serverFlag?: boolean;
  clientFlag?: boolean;
  organization?: readonly string[];
  ou?: readonly string[];
  /** Backdating of notBefore. Default 30s. */
  notBeforeDuration?: VaultDuration;
  basicConstraintsValidForNonCa?: boolean;
  /** Default false: `lease_id` stays `""`. */
  generateLease?: boolean;
  /** Issuer the legacy `issue/<role>` path uses. Default `default`. */
  issuerRef?: string;
}

/** The role with Vault's defaults filled in. */
export interface ResolvedRole {
  readonly allowedDomains: readonly string[];
  readonly allowSubdomains: boolean;
  readonly allowBareDomains: boolean;
  readonly allowGlobDomains: boolean;
  readonly allowAnyName: boolean;
  readonly allowLocalhost: boolean;
  readonly allowWildcardCertificates: boolean;
  readonly enforceHostnames: boolean;
  readonly allowIpSans: boolean;
  readonly allowedUriSans: readonly string[];
  readonly allowedSerialNumbers: readonly string[];
  readonly requireCn: boolean;
  readonly cnValidations: readonly string[];
  readonly ttl: number;
  readonly maxTtl: number;
  readonly keyType: KeyType | 'any';
  readonly keyBits: number;
  readonly keyUsage: readonly string[];
  readonly serverFlag: boolean;
  readonly clientFlag: boolean;
  readonly organization: readonly string[];
  readonly ou: readonly string[];
  readonly notBeforeDuration: number;
  readonly basicConstraintsValidForNonCa: boolean;
  readonly generateLease: boolean;
  readonly issuerRef: string;
}

export function resolveRole(c: PkiRoleConfig): ResolvedRole {
  const keyType = c.keyType ?? 'rsa';
  return {
    allowedDomains: c.allowedDomains ?? [],
    allowSubdomains: c.allowSubdomains ?? false,
    allowBareDomains: c.allowBareDomains ?? false,
    allowGlobDomains: c.allowGlobDomains ?? false,
    allowAnyName: c.allowAnyName ?? false,
    allowLocalhost: c.allowLocalhost ?? true,
    allowWildcardCertificates: c.allowWildcardCertificates ?? true,
    enforceHostnames: c.enforceHostnames ?? true,
    allowIpSans: c.allowIpSans ?? true,
    allowedUriSans: c.allowedUriSans ?? [],
    allowedSerialNumbers: c.allowedSerialNumbers ?? [],
    requireCn: c.requireCn ?? true,
    cnValidations: c.cnValidations ?? ['email', 'hostname'],
    ttl: optionSeconds(c.ttl, 0),
    maxTtl: optionSeconds(c.maxTtl, 0),
    keyType,
    keyBits: c.keyBits ?? (keyType === 'ec' ? 256 : 2048),
    keyUsage: c.keyUsage ?? ['DigitalSignature', 'KeyAgreement', 'KeyEncipherment'],
    serverFlag: c.serverFlag ?? true,
    clientFlag: c.clientFlag ?? true,
    organization: c.organization ?? [],
    ou: c.ou ?? [],
    notBeforeDuration: optionSeconds(c.notBeforeDuration, 30),
    basicConstraintsValidForNonCa: c.basicConstraintsValidForNonCa ?? false,
    generateLease: c.generateLease ?? false,
    issuerRef: c.issuerRef ?? 'default',
  };
}

// --- hostnames (issue_common.go's regexps, verbatim) ---------------------------------------------

const label = '([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\\-]*[a-zA-Z0-9])';
const leftWildLabel = `(\\*|\\*${label}|${label}\\*|${label}\\*${label})`;
const hostname = `(${label}\\.)*${label}\\.?$`;
const wildHostnameRegex = new RegExp(`^(${leftWildLabel}\\.)?${hostname}`);

/**
 * `idna.New(StrictDomainName(true), VerifyDNSLength(true)).ToASCII`, enough of it: non-ASCII is
 * punycoded, STD3 rules refuse anything but letters, digits, `-`, `.` (and the `*` wildcard), and
 * labels must be 1–63 bytes. Throws with x/net/idna's wording.
 */
function idnaToAscii(name: string): string {
  const ascii = /^[\x00-\x7f]*$/.test(name) ? name : domainToASCII(name);
  if (ascii === '') throw new Error(`idna: invalid label ${goQuote(name)}`);
  for (const ch of ascii) {
    if (!/[A-Za-z0-9.\-*]/.test(ch)) {
      throw new Error(`idna: disallowed rune U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
    }
  }
  const labels = ascii.replace(/\.$/, '').split('.');
  for (const l of labels) if (l.length === 0 || l.length > 63) throw new Error(`idna: invalid label ${goQuote(l)}`);
  return ascii;
}

/** ryanuber/go-glob's `Glob`: `*` matches any run of characters (dots and slashes included). */
export function glob(pattern: string, subject: string): boolean {
  if (pattern === '') return subject === pattern;
  if (pattern === '*') return true;
  const parts = pattern.split('*');
  if (parts.length === 1) return subject === pattern;
  const leading = pattern.startsWith('*');
  const trailing = pattern.endsWith('*');
  const end = parts.length - 1;
  let subj = subject;
  for (let i = 0; i < end; i++) {
    const idx = subj.indexOf(parts[i]!);
    if (i === 0) {
      if (!leading && idx !== 0) return false;
    } else if (idx < 0) {
      return false;
    }
    subj = subj.slice(idx + parts[i]!.length);
  }
  return trailing || subj.endsWith(parts[end]!);
}

const eqFold = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** `ValidateWildcardDomain`: [wildcard label, rest] or throws. */
function splitWildcard(name: string): [string, string] {
  if ((name.match(/\*/g) ?? []).length > 1) throw new Error('expected only one wildcard identifier in the given domain name');
  const dot = name.indexOf('.');
  if (dot < 0) return [name, ''];
  const rest = name.slice(dot + 1);
  if (rest.includes('*')) throw new Error('expected wildcard to only be present in left-most domain label');
  return [name.slice(0, dot), rest];
}

/** `ValidateNames`: the first name the role refuses, or `''`. */
export function validateNames(role: ResolvedRole, names: readonly string[]): string {
  for (const name of names) {
    let reduced = name;
    let emailDomain = reduced;
    let wildcardLabel = '';
    let isEmail = false;
    let isWildcard = false;
    if (reduced.includes('@')) {
      const parts = reduced.split('@');
      if (parts.length !== 2) return name;
      reduced = emailDomain = parts[1]!;
      isEmail = true;
    }
    if (reduced.includes('*')) {
      isWildcard = true;
      if (!role.allowWildcardCertificates) return name;
      try {
        [wildcardLabel, reduced] = splitWildcard(reduced);
      } catch {
        return name;
      }
    }
    if (isEmail && isWildcard) return name;
    if (role.enforceHostnames && reduced !== '') {
      let converted: string;
      try {
        converted = idnaToAscii(reduced);
      } catch {
        return name;
      }
      if (isWildcard) converted = `${wildcardLabel}.${converted}`;
      if (!wildHostnameRegex.test(converted)) return name;
    }
    if (role.allowAnyName) continue;
    if (role.allowLocalhost) {
      if (reduced === 'localhost' || reduced === 'localdomain' || (isEmail && (emailDomain === 'localhost' || emailDomain === 'localdomain'))) continue;
      if (role.allowSubdomains) {
        if (reduced.endsWith('.localhost') || (isWildcard && reduced === 'localhost')) continue;
        if (reduced.endsWith('.localdomain') || (isWildcard && reduced === 'localdomain')) continue;
      }
    }
    if (role.allowedDomains.length > 0) {
      let valid = false;
      for (const domain of role.allowedDomains) {
        if (domain === '') continue;
        if (role.allowBareDomains && (eqFold(name, domain) || (isEmail && eqFold(emailDomain, domain)))) valid = true;
        else if (role.allowSubdomains && (reduced.endsWith(`.${domain}`) || (isWildcard && eqFold(reduced, domain)))) valid = true;
        else if (role.allowGlobDomains && domain.includes('*') && glob(domain.toLowerCase(), name.toLowerCase())) valid = true;
        if (valid) break;
      }
      if (valid) continue;
    }
    return name;
  }
  return '';
}

/** `ValidateCommonName`: `cn_validations` on top of `ValidateNames`. */
function validateCommonName(role: ResolvedRole, cn: string): string {
  if (role.cnValidations.length === 1 && role.cnValidations[0] === 'disabled') return '';
  if (validateNames(role, [cn]) !== '') return cn;
  if (role.cnValidations.length === 0) return '';
  const needed = cn.includes('@') ? 'email' : 'hostname';
  return role.cnValidations.includes(needed) ? '' : cn;
}

// --- request fields -----------------------------------------------------------------------------

/** `TypeCommaStringSlice`: a comma-separated string or a JSON list; trimmed, empties dropped. */
export function commaList(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  const items = Array.isArray(raw) ? raw.map((v) => String(v)) : String(raw).split(',');
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

/** `TypeBool` via mapstructure.WeakDecode: booleans, "true"/"false"/"1"/"0", numbers. */
export function boolField(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return raw !== 0;
  if (typeof raw === 'string') return raw === 'true' || raw === '1' || raw === 'T' || raw === 'TRUE' || raw === 'True' || raw === 't';
  return false;
}

/** A field error the way the framework's `FieldData.Validate` words it. */
function fieldError(value: unknown, field: string, err: unknown): Error {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return errorResponse(`error converting input ${shown} for field ${goQuote(field)}: ${(err as Error).message}`);
}

/** The names and validity a request may have, after the role has let them through. */
export interface CreationBundle {
  readonly commonName: string;
  readonly serialNumber: string;
  readonly dnsNames: string[];
  readonly emails: string[];
  readonly ips: string[];
  readonly uris: string[];
  readonly notBefore: number;
  readonly notAfter: number;
  readonly warnings: string[];
}

/** Issuer facts the TTL check needs (`ApplyIssuerLeafNotAfterBehavior`). */
export interface IssuerLimits {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly leafNotAfterBehavior: 'err' | 'truncate' | 'permit';
}

/** Mount TTLs (`vault secrets tune -default-lease-ttl/-max-lease-ttl`). */
export interface MountTtls {
  readonly defaultTtl: number;
  readonly maxTtl: number;
}

/** Go's RFC3339Nano of an instant (used in the CA-expiry refusal). */
function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/**
 * `GenerateCreationBundle` for the `issue` path: the same checks, in the same order, with the same
 * refusals (each a `logical.ErrorResponse` → 400).
 */
export function creationBundle(role: ResolvedRole, body: Record<string, unknown>, issuer: IssuerLimits, mount: MountTtls, nowMs: number): CreationBundle {
  const warnings: string[] = [];
  const cn = body.common_name === undefined || body.common_name === null ? '' : String(body.common_name);
  if (cn === '' && role.requireCn) {
    throw errorResponse(
      'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
    );
  }
  const serialNumber = body.serial_number === undefined ? '' : String(body.serial_number);
  const dnsNames: string[] = [];
  const emails: string[] = [];
  const excludeCn = boolField(body.exclude_cn_from_sans);

  if (cn !== '' && !excludeCn) {
    if (cn.includes('@')) emails.push(cn);
    else {
      let converted: string;
      try {
        converted = idnaToAscii(cn);
      } catch (err) {
        throw errorResponse((err as Error).message);
      }
      if (wildHostnameRegex.test(converted)) dnsNames.push(converted);
    }
  }

  if (body.alt_names !== undefined && body.alt_names !== null) {
    // strutil.ParseDedupAndSortStrings
    const alts = [
      ...new Set(
        String(body.alt_names)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      ),
    ].sort();
    for (const v of alts) {
      if (v.includes('@')) {
        emails.push(v);
        continue;
      }
      let converted: string;
      try {
        converted = idnaToAscii(v);
      } catch (err) {
        throw errorResponse((err as Error).message);
      }
      if (!wildHostnameRegex.test(converted)) {
        throw errorResponse(`subject alternate name ${v} is not a valid DNS name and cannot be included as a SAN`);
      }
      dnsNames.push(converted);
    }
  }

  if (cn !== '') {
    const bad = validateCommonName(role, cn);
    if (bad !== '') throw errorResponse(`common name ${bad} not allowed by this role`);
  }
  if (serialNumber !== '') {
    const ok = role.allowedSerialNumbers.some((p) => p !== '' && ((p.includes('*') && glob(p, serialNumber)) || p === serialNumber));
    if (!ok) throw errorResponse(`serial_number ${serialNumber} not allowed by this role`);
  }
  let bad = validateNames(role, dnsNames);
  if (bad !== '') throw errorResponse(`subject alternate name ${bad} not allowed by this role`);
  bad = validateNames(role, emails);
  if (bad !== '') throw errorResponse(`email address ${bad} not allowed by this role`);

  // other_sans: parsed like Vault, then refused (roles here never allow any).
  for (const other of commaList(body.other_sans)) {
    const semi = other.indexOf(';');
    if (semi < 0) throw errorResponse(`could not parse requested other SAN: expected a semicolon in other SAN ${goQuote(other)}`);
    const rest = other.slice(semi + 1);
    const colon = rest.indexOf(':');
    if (colon < 0) throw errorResponse(`could not parse requested other SAN: expected a colon in other SAN ${goQuote(other)}`);
    const type = rest.slice(0, colon).toLowerCase();
    if (type !== 'utf8' && type !== 'utf-8') {
      throw errorResponse(`could not parse requested other SAN: only utf8 other SANs are supported; found non-supported type in other SAN ${goQuote(other)}`);
    }
    throw errorResponse(`other SAN OID ${other.slice(0, semi)} not allowed by this role`);
  }

  const ips = commaList(body.ip_sans);
  if (ips.length > 0) {
    if (!role.allowIpSans) {
      throw errorResponse(`IP Subject Alternative Names are not allowed in this role, but was provided [${ips.join(' ')}]`);
    }
    for (const ip of ips) if (isIP(ip) === 0) throw errorResponse(`the value ${goQuote(ip)} is not a valid IP address`);
  }

  const uris = commaList(body.uri_sans);
  if (uris.length > 0) {
    if (role.allowedUriSans.length === 0) {
      throw errorResponse('URI Subject Alternative Names are not allowed in this role, but were provided via the API');
    }
    for (const uri of uris) {
      if (!role.allowedUriSans.some((allowed) => glob(allowed, uri))) {
        throw errorResponse('URI Subject Alternative Names were provided via the API which are not valid for this role');
      }
      // Go's url.Parse fails on control characters and bad %-escapes.
      if (/[\x00-\x1f\x7f]/.test(uri) || /%(?![0-9a-fA-F]{2})/.test(uri)) {
        throw errorResponse(`the provided URI Subject Alternative Name ${goQuote(uri)} is not a valid URI`);
      }
    }
  }

  // GetCertificateNotAfter
  let ttl: number;
  try {
    ttl = parseDurationSeconds(body.ttl);
  } catch (err) {
    throw fieldError(body.ttl, 'ttl', err);
  }
  const notAfterText = body.not_after === undefined || body.not_after === null ? '' : String(body.not_after);
  if (ttl > 0 && notAfterText !== '') {
    throw errorResponse('Either ttl or not_after should be provided. Both should not be provided in the same request.');
  }
  if (ttl === 0 && role.ttl > 0) ttl = role.ttl;
  let maxTtl = Math.max(role.maxTtl, 0);
  if (ttl === 0) ttl = mount.defaultTtl;
  if (maxTtl === 0) maxTtl = mount.maxTtl;
  if (ttl > maxTtl) {
    warnings.push(`TTL ${goQuote(goDuration(ttl))} is longer than permitted maxTTL ${goQuote(goDuration(maxTtl))}, so maxTTL is being used`);
    ttl = maxTtl;
  }
  let notAfter: number;
  if (notAfterText !== '') {
    notAfter = Date.parse(notAfterText);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(notAfterText) || Number.isNaN(notAfter)) {
      throw errorResponse(`parsing time ${goQuote(notAfterText)} as "2006-01-02T15:04:05Z07:00": cannot parse ${goQuote(notAfterText)} as "2006"`);
    }
  } else {
    notAfter = nowMs + ttl * 1000;
  }
  if (notAfter > issuer.notAfter.getTime()) {
    if (issuer.leafNotAfterBehavior === 'truncate') notAfter = issuer.notAfter.getTime();
    else if (issuer.leafNotAfterBehavior === 'err') {
      throw errorResponse(
        `cannot satisfy request, as TTL would result in notAfter of ${rfc3339Nano(notAfter)} that is beyond the expiration of the CA certificate at ${rfc3339Nano(issuer.notAfter.getTime())}`,
      );
    }
  }
  const notBefore = nowMs - role.notBeforeDuration * 1000;
  if (notAfter < notBefore) throw errorResponse('notAfter before notBefore');
  if (notBefore < issuer.notBefore.getTime()) throw errorResponse("notBefore before signer's notBefore");

  return {
    commonName: cn,
    serialNumber,
    dnsNames: [...new Set(dnsNames)],
    emails: [...new Set(emails)],
    ips,
    uris,
    notBefore,
    notAfter,
    warnings,
  };
}
