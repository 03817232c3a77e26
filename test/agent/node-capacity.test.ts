// `capstan agent --capacity` above the machine needs --allow-overcommit.
import { describe, expect, it } from 'vitest';
import { cpus, totalmem } from 'node:os';
import { machineResources, parseAgentOptions } from '../../src/cli/commands/agent.js';

const machine = { cpu: 2000, memory: 4 * 1024 ** 3 };
const base = { token: 't', name: 'node-1' };

function refusal(opts: Parameters<typeof parseAgentOptions>[0]): { code: string; message: string } {
  try {
    parseAgentOptions(opts, {}, '/', machine);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('accepted');
}

describe('agent capacity', () => {
  it('defaults to the machine', () => {
    expect(machineResources()).toEqual({ cpu: cpus().length * 1000, memory: totalmem() });
    expect(parseAgentOptions(base, {}, '/', machine).capacity).toEqual({ cpu: 2000, memory: 4 * 1024 ** 3, pods: 110 });
  });

  it('accepts a capacity at or below the machine', () => {
    expect(parseAgentOptions({ ...base, capacity: 'cpu=2,memory=4Gi' }, {}, '/', machine).capacity).toMatchObject({ cpu: 2000, memory: 4 * 1024 ** 3 });
    expect(parseAgentOptions({ ...base, capacity: 'cpu=500m,memory=1Gi' }, {}, '/', machine).capacity).toMatchObject({ cpu: 500, memory: 1024 ** 3 });
  });

  it('refuses cpu or memory above the machine without --allow-overcommit', () => {
    const cpu = refusal({ ...base, capacity: 'cpu=3' });
    expect(cpu.code).toBe('CAPSTAN_ERR_CLI_USAGE');
    expect(cpu.message).toContain('--allow-overcommit');
    expect(cpu.message).toContain('cpu 3000m > 2000m');
    const mem = refusal({ ...base, capacity: 'memory=8Gi' });
    expect(mem.message).toContain('memory');
    expect(mem.message).not.toContain('cpu ');
  });

  it('accepts it with --allow-overcommit', () => {
    const p = parseAgentOptions({ ...base, capacity: 'cpu=64,memory=64Gi', allowOvercommit: true }, {}, '/', machine);
    expect(p.capacity).toMatchObject({ cpu: 64000, memory: 64 * 1024 ** 3 });
  });
});
