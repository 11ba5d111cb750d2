/** What each daemon changes while it runs when SIGHUP re-reads the configuration; the rest waits for a restart. */
import type { AccessPoint } from '../../engine/access-point.js';
import type { Executor } from '../../engine/executor.js';
import type { Logging } from '../../log/logger.js';
import { liveLogLevel, type LiveSetting } from './reload.js';

export function accessPointLiveSettings(accessPoint: AccessPoint, logging: Logging): LiveSetting[] {
  return [
    liveLogLevel(logging),
    { keys: ['heartbeat-interval'], apply: (valueFor) => accessPoint.setHeartbeatInterval(valueFor('heartbeat-interval') as number) },
    { keys: ['executor-san-uri-prefix'], apply: (valueFor) => accessPoint.setExecutorSanUriPrefix(valueFor('executor-san-uri-prefix') as string | undefined) },
    { keys: ['audit-log'], apply: (valueFor) => accessPoint.setAuditLog(valueFor('audit-log') as string | undefined) },
  ];
}

export function executorLiveSettings(executor: Executor, logging: Logging): LiveSetting[] {
  return [
    liveLogLevel(logging),
    {
      keys: ['renewal-threshold', 'vault-renewal-threshold'],
      apply: (valueFor) => executor.setRenewalThreshold((valueFor('vault-renewal-threshold') ?? valueFor('renewal-threshold')) as number),
    },
  ];
}
