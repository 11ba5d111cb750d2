/**
 * The checks every piece of identity material passes before it is used: the certificate parses,
 * the key belongs to it. (Chain checks against a bundle belong to the providers that have one.)
 */
import { X509Certificate } from 'node:crypto';
import { AhError } from '../errors/ah-error.js';
import type { IdentityMaterial } from '../model/identity.js';
import { keyMatchesCertificate, splitPemCertificates } from './certificate.js';

export function verifyMaterial(material: IdentityMaterial): void {
  if (!material.certPem && !material.keyPem) return; // anonymous: nothing to check
  const [leafPem] = splitPemCertificates(material.certPem);
  if (!leafPem) throw new AhError('ENROLL_INTERNAL', { detail: `material ${material.summary.serial} holds no certificate` });
  const leaf = new X509Certificate(leafPem);
  let matches = false;
  try {
    matches = keyMatchesCertificate(leaf, material.keyPem);
  } catch {
    matches = false;
  }
  if (!matches) throw new AhError('ENROLL_KEY_MISMATCH');
}
