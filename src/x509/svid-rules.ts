/**
 * The X.509-SVID rules a leaf must follow before we use it (SPIFFE X509-SVID.md,
 * docs/workload-api.md §X.509-SVID rules), in go-spiffe's words. Node exposes neither key-usage
 * bits nor a dependable CA flag (it reads cA=false for a leaf that has cA=true without
 * keyCertSign), so the extensions are read with @peculiar/x509.
 */
import { x509 } from './peculiar.js';
import { spiffeIdProblem } from './spiffe-id.js';

/** Null when the leaf is a valid X.509-SVID leaf, else why not. */
export function svidLeafProblem(der: Uint8Array): string | null {
  const cert = new x509.X509Certificate(der);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (uris.length === 0) return 'certificate contains no URI SAN';
  if (uris.length > 1) return 'certificate contains more than one URI SAN';
  const id = uris[0]!;
  if (!id.startsWith('spiffe://')) return 'scheme is missing or invalid';
  if (/^spiffe:\/\/[^/]+\/?$/.test(id)) return 'leaf certificate SPIFFE ID must have a non-root path';
  const problem = spiffeIdProblem(id);
  if (problem) return `invalid SPIFFE ID ${id}: ${problem}`;
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (basic?.ca) return 'leaf certificate must not have CA flag set to true';
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (!usage) return "leaf certificate must have 'digitalSignature' set as key usage";
  if (!(usage.usages & x509.KeyUsageFlags.digitalSignature)) return "leaf certificate must have 'digitalSignature' set as key usage";
  if (usage.usages & x509.KeyUsageFlags.keyCertSign) return "leaf certificate must not have 'keyCertSign' set as key usage";
  if (usage.usages & x509.KeyUsageFlags.cRLSign) return "leaf certificate must not have 'cRLSign' set as key usage";
  return null;
}
