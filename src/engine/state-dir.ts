/**
 * Where daemons keep their state: `--state-dir`, else `$AH_STATE_DIR`, else `~/.local/state/ah`
 * (`/var/lib/ah` as root). Executors (one status socket per `--name`) and an access point may share
 * one directory, as the guide's two development commands do.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.AH_STATE_DIR) return env.AH_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/ah';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'ah');
}

/** Executor names end up in file names and SPIFFE IDs. */
export const EXECUTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const paths = {
  runDir: (stateDir: string) => join(stateDir, 'run'),
  executorSocket: (stateDir: string, name: string) => join(stateDir, 'run', `executor.${name}.sock`),
  accessPointSocket: (stateDir: string) => join(stateDir, 'run', 'access-point.sock'),
  devIdentity: (stateDir: string, role: 'executor' | 'access-point', name: string) =>
    role === 'executor' ? join(stateDir, 'dev', `executor.${name}`) : join(stateDir, 'dev', 'access-point'),
  knownAccessPoints: (stateDir: string) => join(stateDir, 'known-access-points'),
  /** The access point's TLS session keys (0600) and its sealed sessions, so they survive a restart. */
  sessionKeys: (stateDir: string) => join(stateDir, 'tls-session-keys.json'),
  sessions: (stateDir: string) => join(stateDir, 'tls-sessions'),
};

/** Executor names with a status socket in the state dir. */
export function executorNameFromSocket(file: string): string | null {
  const m = /^executor\.(.+)\.sock$/.exec(file);
  return m ? m[1]! : null;
}
