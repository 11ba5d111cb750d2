/**
 * `ah` as a library, for executors that embed the engine. The `ah agent` CLI is built on exactly
 * these two factories.
 *
 *   const accessPoint = createAccessPoint({ listen: '0.0.0.0:4433', stateDir });
 *   const executor = createExecutor({ name, remoteServer: 'https://ap:4433', stateDir });
 *   executor.on('enrolled', ...); executor.on('rotated', ...); executor.on('error', ...);
 */
import 'reflect-metadata';

export { createExecutor, Executor } from './engine/executor.js';
export type { ExecutorEvents, ExecutorOptions, ExecutorOutcome } from './engine/executor.js';
export { createAccessPoint, AccessPoint } from './engine/access-point.js';
export type { AccessPointEvents, AccessPointOptions, AccessPointStatus } from './engine/access-point.js';
export type { AccessPointInfo, AccessPointState, FleetDirectory } from './model/fleet-directory.js';
export type { RosterOptions } from './engine/fleet-roster.js';
export type { EtcdRosterStatus } from './actors/roster-etcd.js';
export type { ExecutorStatus, IdentityStatus } from './engine/executor-status.js';
export type { FleetEntryJson } from './model/status.js';
export { AhError, formatForTerminal } from './errors/ah-error.js';
export type { ErrorInfo, PeerCode, WireErrorInfo } from './errors/ah-error.js';
export { catalog } from './errors/catalog.js';
export type { CatalogEntry, ErrorCode } from './errors/catalog.js';
export { createLogging, silentLogging } from './log/logger.js';
export type { Logging } from './log/logger.js';
export { parseDirectives } from './log/directives.js';
export { DevIdentityProvider } from './providers/dev.js';
export type { IdentityConfig } from './providers/index.js';
export type { IdentityMaterial, IdentityProvider, ProviderKind } from './providers/identity-provider.js';
export { accessPointMachine } from './machines/access-point.js';
export { connectionMachine } from './machines/connection.js';
export { enrollmentMachine } from './machines/enrollment.js';
export type { EnrollmentState } from './machines/enrollment.js';
export { rotationMachine } from './machines/rotation.js';
export { VERSION } from './version.js';
