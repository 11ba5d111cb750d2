/**
 * What a flag's value is, beyond "a string": the configuration schema types file values by it
 * (`connect-timeout = "30s"`, `max-attempts = 5`), while commander only knows its parser function.
 * Tagged where the option helpers make such flags (cli/common.ts).
 */
import type { Option } from 'commander';

export type OptionKind =
  | { readonly type: 'duration' }
  | { readonly type: 'count'; readonly min: number; readonly max: number }
  | { readonly type: 'fraction'; readonly min: number; readonly max: number };

const kinds = new WeakMap<Option, OptionKind>();

export function tagOption<O extends Option>(option: O, kind: OptionKind): O {
  kinds.set(option, kind);
  return option;
}

export function kindOf(option: Option): OptionKind | undefined {
  return kinds.get(option);
}
