/** Finding system tools: a missing one skips a test locally, but fails it under CI. */
import { spawnSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** `skip` option for node:test: false when present; a message when absent (never skipped in CI). */
export function needTool(name: string, apt: string): false | string {
  if (hasTool(name)) return false;
  if (process.env.CI === 'true') throw new Error(`${name} is missing in CI: apt-get install -y ${apt}`);
  return `${name} not installed (apt-get install -y ${apt})`;
}
