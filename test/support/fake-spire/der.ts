/**
 * Splitting a buffer of concatenated DER certificates (`x509_svid`, `bundle`; docs/workload-api.md
 * §What SPIRE puts in the fields) into one buffer per certificate by walking the outer SEQUENCE
 * lengths. Node's X509Certificate silently parses only the first certificate of such a buffer
 * (§What SPIRE puts in the fields, checked on Node 20), so the tests of the fake split first. The
 * product has its own splitter; this one only serves the tests.
 */
export function splitDerCertificates(buf: Uint8Array): Buffer[] {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (data[offset] !== 0x30) throw new Error(`not a DER SEQUENCE at byte ${offset}`);
    if (offset + 2 > data.length) throw new Error(`truncated DER header at byte ${offset}`);
    const first = data[offset + 1]!;
    let length: number;
    let header: number;
    if (first < 0x80) {
      length = first;
      header = 2;
    } else {
      const count = first & 0x7f;
      if (count === 0 || count > 4 || offset + 2 + count > data.length) throw new Error(`bad DER length at byte ${offset}`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + data[offset + 2 + i]!;
      header = 2 + count;
    }
    const end = offset + header + length;
    if (end > data.length) throw new Error(`DER element at byte ${offset} runs past the end`);
    out.push(data.subarray(offset, end));
    offset = end;
  }
  return out;
}
