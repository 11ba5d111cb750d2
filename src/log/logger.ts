/**
 * Logging: pino JSON lines on stdout for journald, pretty when stdout is a terminal. One child
 * logger per component, each with the level the directives give it. Secrets never reach a line:
 * material is logged by serial and fingerprint, and any field named like a secret is censored.
 */
import pino, { type Logger } from 'pino';
import { prettyDestination } from './pretty.js';
import { COMPONENTS, type Component, type LevelPlan } from './directives.js';

export type { Logger };

export interface Logging {
  readonly root: Logger;
  get(component: Component): Logger;
  /** New levels for every component (SIGHUP); loggers already handed out follow, their children made later too. */
  setPlan?(plan: LevelPlan): void;
}

export interface LoggingOptions {
  readonly plan: LevelPlan;
  /** Where lines go; stdout by default. */
  readonly destination?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Pretty lines instead of JSON; defaults to whether the destination is a terminal. */
  readonly pretty?: boolean;
  readonly base?: Record<string, unknown>;
}

const REDACT = {
  paths: [
    'key',
    'keyPem',
    'privateKey',
    'token',
    'secretId',
    'secret_id',
    'clientToken',
    '*.key',
    '*.keyPem',
    '*.privateKey',
    '*.token',
    '*.secretId',
    '*.secret_id',
    '*.client_token',
  ],
  censor: '[redacted]',
};

export function createLogging(options: LoggingOptions): Logging {
  const out = options.destination ?? process.stdout;
  const pretty = options.pretty ?? Boolean(out.isTTY);
  const stream = pretty ? prettyDestination(out) : out === process.stdout ? pino.destination({ dest: 1, sync: true }) : out;
  const root = pino(
    {
      level: 'trace',
      base: options.base ?? { pid: process.pid },
      redact: REDACT,
      formatters: { level: (label, number) => ({ level: number, levelName: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    stream as pino.DestinationStream,
  );
  const children = new Map<Component, Logger>();
  for (const component of COMPONENTS) {
    const level = options.plan.components[component] ?? options.plan.defaultLevel;
    children.set(component, root.child({ component }, { level }));
  }
  const setPlan = (plan: LevelPlan) => {
    for (const [component, child] of children) child.level = plan.components[component] ?? plan.defaultLevel;
  };
  return { root, get: (component) => children.get(component)!, setPlan };
}

/**
 * For library users who pass no logger: nothing is written. One for the whole process: a silent
 * logger holds nothing worth having twice, and a process may run thousands of executors.
 */
export function silentLogging(): Logging {
  if (!silent) {
    const root = pino({ level: 'silent' });
    silent = { root, get: () => root };
  }
  return silent;
}

let silent: Logging | null = null;
