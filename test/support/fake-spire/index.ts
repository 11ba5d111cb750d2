/**
 * A fake SPIRE agent for tests: the SPIFFE Workload API on a real unix socket. See README.md.
 */
export {
  startFakeSpire,
  FakeSpire,
  type FakeSpireOptions,
  type FakeSpireStats,
  type FakeSpireEvents,
  type RegisterOptions,
  type RotateOptions,
  type GarbageOptions,
  type StartOptions,
  type StopOptions,
  type SvidSnapshot,
} from './server.js';
export { createTrustDomain, FakeTrustDomain, type TrustDomainOptions, type RotateCaOptions, type CaRotation } from './trust-domain.js';
export { SVID_DEFECTS, type SvidDefect } from './ca.js';
export * as spireStatus from './status.js';
export { RawWorkloadClient, StreamProbe, type HeaderMode, type StreamEnd } from './raw-client.js';
export { splitDerCertificates } from './der.js';
export { WORKLOAD_PROTO_PATH, loadWorkloadApi } from './proto.js';
export { shortSocketDir } from './socket-dir.js';
