/**
 * The one redaction step of the support bundle: every file goes through `redact` before it is
 * written into the archive. It works on text, so it covers JSON (a daemon's answer, a pino log
 * line, the configuration), journal text and any log file an operator hands us alike; the JSON it
 * gets stays JSON (a redacted string value stays a quoted string).
 *
 * What it removes, and why each rule has the shape it has:
 * - private keys: any PEM block whose label ends in PRIVATE KEY (PKCS#8, ENCRYPTED, EC, RSA, DSA,
 *   OPENSSH..., and OpenPGP's PRIVATE KEY BLOCK), also with its newlines escaped inside a JSON string, also cut short (no END line);
 * - Vault tokens by their shape: `hvs.`, `hvb.`, `hvr.` (Vault ≥ 1.10) and the older `s.`/`b.`/
 *   `r.` followed by 24 or more token characters, wherever they appear;
 * - `Authorization`, `Proxy-Authorization` and `X-Vault-Token` header values, and any
 *   `Bearer …` credential;
 * - JWTs (`eyJ….eyJ….…`): a JWT-SVID is a bearer credential;
 * - values of fields and settings named like a secret (`secret_id`, `secretId`, `VAULT_SECRET_ID`,
 *   `role_id`, `token`, `client_token`, `password`, `passphrase`, `private_key`, `keyPem`, `key`…)
 *   as a JSON field, as `name=value` or as `name: value`. AppRole role IDs count: a role ID is
 *   half of a login, and a support bundle has no use for it. Names that end in `file`, `path`,
 *   `dir`, `ttl` or `num_uses` name where a secret is or how long it lives, not the secret: they
 *   stay, so the bundle still shows which secret-id file a daemon reads. A value that is a shell
 *   variable (`$VAULT_SECRET_ID`) is not a secret either.
 */

export const REDACTED = '[redacted]';

/** What each rule removes, for the bundle's README. */
export const REDACTION_RULES: readonly string[] = [
  'private keys: every PEM block labelled ... PRIVATE KEY (PKCS#8, ENCRYPTED, EC, RSA, DSA, OPENSSH) and PGP PRIVATE KEY BLOCK, also escaped in JSON or cut short',
  'Vault tokens: hvs./hvb./hvr. tokens and the older s./b./r. tokens',
  'Authorization, Proxy-Authorization and X-Vault-Token header values; the credential after Bearer or Basic; JWTs',
  'values of fields and settings named like a secret (secret id, role id, token, password, passphrase, private key, key) in JSON, as name=value and as name: value',
];

/** The label of a private key block, PEM's or OpenPGP's armour (`PGP PRIVATE KEY BLOCK`). */
const PEM_LABEL = '[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?';
/** A whole block, its newlines real or escaped (`\n` inside a JSON string). */
const PEM_BLOCK = new RegExp(`-----BEGIN (${PEM_LABEL})-----[\\s\\S]*?-----END \\1-----`, 'g');
/** What is left of a block without its END line: base64, its headers (Proc-Type, DEK-Info), escaped newlines. */
const PEM_CUT = new RegExp(`-----BEGIN (${PEM_LABEL})-----(?!\\[redacted\\])(?:[A-Za-z0-9+/=:, \\t\\r\\n-]|\\\\[rn])*`, 'g');

const VAULT_TOKEN = /(?<![A-Za-z0-9_.-])(?:hv[sbr]\.[A-Za-z0-9_-]{20,}|[sbr]\.[A-Za-z0-9]{24,})(?![A-Za-z0-9_-])/g;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
/** A credential after the scheme: 8 or more token characters with a digit or a symbol in them (prose has neither). */
const BEARER = /\b(Bearer|Basic)(\s+)(?!\[redacted\])(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}/gi;
/** A header as text (`Authorization: …`) or as a JSON field (`"authorization":"…"`). */
const HEADER_TEXT = /\b((?:proxy-)?authorization|x-vault-token)([ \t]*[:=][ \t]*)(?!"|\[redacted\])[^\r\n"\\]+/gi;

/** Words that make a name a secret's, in any spelling (snake, camel, kebab, upper). */
const SECRET_WORDS = new Set(['secret', 'token', 'password', 'passwd', 'passphrase', 'credential', 'credentials', 'authorization', 'bearer']);
/** Pairs of words that do: `private_key`, `keyPem`, `role_id`. */
const SECRET_PAIRS = [
  ['private', 'key'],
  ['key', 'pem'],
  ['role', 'id'],
] as const;
/** A last word that says where a secret is, how long it lives or what kind it is: the name is kept. */
const HARMLESS_LAST = new Set(['file', 'path', 'dir', 'ttl', 'uses', 'count', 'expiry', 'expires', 'at', 'type', 'bits', 'size', 'length', 'usage']);
/** `key` alone is a secret's name (as the daemons' logger censors it), but not a public key's. */
const PUBLIC = new Set(['public', 'spki']);

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[_.-]+/)
    .filter(Boolean);
}

export function isSecretName(name: string): boolean {
  const w = words(name);
  const last = w[w.length - 1];
  if (last === undefined || HARMLESS_LAST.has(last)) return false;
  if (w.some((x) => SECRET_WORDS.has(x))) return true;
  if (last === 'key' && !PUBLIC.has(w[w.length - 2] ?? '')) return true;
  return SECRET_PAIRS.some(([a, b]) => w.some((x, i) => x === a && w[i + 1] === b));
}

/** `"name": "value"` in JSON. */
const JSON_FIELD = /"([A-Za-z0-9_.-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\[\s\S])*)"/g;
/** The same escaped inside a JSON string (a log line quoting a request body): `\"name\":\"value\"`. */
const ESCAPED_JSON_FIELD = /\\"([A-Za-z0-9_.-]{1,64})\\"(\s*:\s*)\\"((?:(?!\\")[^"])*)\\"/g;
/** A setting's name as a value (`{"key": "vault-secret-id-file"}`): not key material. */
const IDENTIFIER = /^(?:[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)$/;

/** Whether a field or setting of this name holds a secret in this value. */
export function secretValue(name: string, value: string): boolean {
  if (value === '' || value === REDACTED || !isSecretName(name)) return false;
  return !(name.toLowerCase() === 'key' && IDENTIFIER.test(value));
}

/** `name=value` and `name: value` in prose, env files, command lines, TOML. */
const TEXT_SETTING =
  /(?<![A-Za-z0-9_.\\"-])([A-Za-z][A-Za-z0-9_.-]{1,63})([ \t]*[=:][ \t]*)(?!\$|\[redacted\]|"\[redacted\]")("[^"\r\n]*"|'[^'\r\n]*'|[^\s,;&"')}\]]+)/g;

function redactFields(text: string): string {
  let out = text.replace(JSON_FIELD, (whole, name: string, sep: string, value: string) => (secretValue(name, value) ? `"${name}"${sep}"${REDACTED}"` : whole));
  out = out.replace(ESCAPED_JSON_FIELD, (whole, name: string, sep: string, value: string) =>
    secretValue(name, value) ? `\\"${name}\\"${sep}\\"${REDACTED}\\"` : whole,
  );
  out = out.replace(TEXT_SETTING, (whole, name: string, sep: string, value: string) => {
    if (!secretValue(name, value.replace(/^["']|["']$/g, ''))) return whole;
    // A URL's scheme (`token: https://…` is prose about where, not what) and a bare number (`token: 3 renewals`) stay.
    if (sep.trim() === ':' && (/^\/\//.test(value) || /^\d+$/.test(value))) return whole;
    const quote = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
    return `${name}${sep}${quote}${REDACTED}${quote}`;
  });
  return out;
}

/** Text with every secret the rules know replaced by `[redacted]`. */
export function redact(text: string): string {
  let out = text.replace(PEM_BLOCK, (_w, label: string) => `-----BEGIN ${label}-----${REDACTED}-----END ${label}-----`);
  out = out.replace(PEM_CUT, (_w, label: string) => `-----BEGIN ${label}-----${REDACTED}`);
  out = out.replace(HEADER_TEXT, (_w, name: string, sep: string) => `${name}${sep}${REDACTED}`);
  out = redactFields(out);
  out = out.replace(BEARER, (_w, scheme: string, space: string) => `${scheme}${space}${REDACTED}`);
  out = out.replace(JWT, REDACTED);
  out = out.replace(VAULT_TOKEN, REDACTED);
  return out;
}
