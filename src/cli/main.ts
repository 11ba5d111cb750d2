/**
 * `ah`: the command line. Usage errors exit 2 with one line; enrollment failures exit 1 with the
 * guide's message first; nothing ever prints a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './common.js';
import { registerAccessPoint } from './commands/access-point.js';
import { registerDemo } from './commands/demo.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEnroll } from './commands/enroll.js';
import { registerStatus } from './commands/status.js';
import { registerSupportBundle } from './commands/support-bundle.js';
import { registerReplay } from './commands/replay.js';
import { registerVisualize } from './commands/visualize.js';
import { installConfig } from './config/hook.js';
import { registerConfig } from './config/show.js';

export function buildProgram(): Command {
  const program = new Command('ah')
    .description('Agent Harbor: executor enrollment and fleet identity')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // One line, whatever commander adds ("(Did you mean status?)").
      outputError: (text, write) => write(`${text.trim().replace(/\s*\n\s*/g, ' ')}\n`),
    })
    .helpCommand(false);

  const agent = program
    .command('agent')
    .description('enroll executors, run the access point, and inspect their state')
    .helpOption('-h, --help', 'show help')
    .helpCommand(false);
  registerAccessPoint(agent);
  registerEnroll(agent);
  registerStatus(agent);
  registerDemo(agent);
  registerDoctor(agent);
  registerReplay(agent);
  registerVisualize(agent);
  registerSupportBundle(agent);
  agent.addHelpText('after', '\nTroubleshooting: ah agent status; ah agent <command> --help');
  registerConfig(program, buildProgram);
  // Last: every command that takes a configuration file gets --config and the layers.
  installConfig(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  // `ah`, `ah agent` or `ah config` alone: show what there is, as a usage error.
  const words = argv.filter((a) => !a.startsWith('-'));
  if (words.length === 0 && !argv.some((a) => ['-h', '--help', '-V', '--version'].includes(a))) {
    program.outputHelp({ error: true });
    process.exit(EXIT_USAGE);
  }
  if (words.length === 1 && (words[0] === 'agent' || words[0] === 'config') && !argv.some((a) => a === '-h' || a === '--help')) {
    program.commands.find((c) => c.name() === words[0])!.outputHelp({ error: true });
    process.exit(EXIT_USAGE);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exit(EXIT_OK);
      }
      process.exit(EXIT_USAGE);
    }
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(`error: internal error: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.AH_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    process.exit(EXIT_FAILURE);
  }
}
