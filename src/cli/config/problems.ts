/**
 * Configuration problems are usage errors: one line, the catalog's message, exit 2. The same
 * line is what a daemon logs when a reload is refused.
 */
import { renderMessage, type ErrorParams } from '../../errors/catalog.js';
import { UsageError } from '../common.js';

export type ConfigErrorCode = 'ENROLL_CONFIG_INVALID' | 'ENROLL_CONFIG_UNREADABLE' | 'ENROLL_CONFIG_SECRET_EXPOSED';

export class ConfigError extends UsageError {
  constructor(
    readonly code: ConfigErrorCode,
    readonly params: ErrorParams,
  ) {
    super(renderMessage(code, params));
  }
}

export function configError(code: ConfigErrorCode, params: ErrorParams): ConfigError {
  return new ConfigError(code, params);
}

/** `FILE:LINE` when the line is known. */
export function where(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}
