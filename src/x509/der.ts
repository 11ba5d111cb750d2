/**
 * The Workload API sends certificate chains and bundles as raw DER certificates concatenated, with
 * no wrapper (docs/workload-api.md §What SPIRE puts in the fields), and node:crypto parses only the
 * first certificate of such a buffer; so the buffer is cut at the boundaries of its top-level ASN.1
 * SEQUENCEs.
 */
export function splitDerSequence(buf: Uint8Array): Buffer[] {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (data[at] !== 0x30) throw new Error(`expected an ASN.1 SEQUENCE at byte ${at}, found 0x${(data[at] ?? 0).toString(16).padStart(2, '0')}`);
    if (at + 2 > data.length) throw new Error(`truncated ASN.1 header at byte ${at}`);
    let length = data[at + 1]!;
    let header = 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4) throw new Error(`unsupported ASN.1 length form at byte ${at}`);
      if (at + 2 + octets > data.length) throw new Error(`truncated ASN.1 length at byte ${at}`);
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + data[at + 2 + i]!;
      header += octets;
    }
    const end = at + header + length;
    if (end > data.length) throw new Error(`ASN.1 element at byte ${at} runs past the end (${end} > ${data.length})`);
    out.push(data.subarray(at, end));
    at = end;
  }
  return out;
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
