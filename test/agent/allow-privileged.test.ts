// --allow-privileged reaches the node agent and is reported on the node; agents may read the pull
// Secrets and init container env sources of their own pods only.

import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentOptions } from '../../src/cli/commands/agent.js';
import { NodeAgent, ProcessRuntime } from '../../src/agent/index.js';
import { STORE_PREFIX, type NodeInfo } from '../../src/api/cluster.js';
import { agentNeedsEnvSource } from '../../src/server/agent.js';
import { openEmbeddedStore } from '../../src/store/index.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { makePod } from './pods.js';

const machine = { cpu: 2000, memory: 4 * 1024 ** 3 };

describe('--allow-privileged', () => {
  let t: TestApi | undefined;
  let stateDir: string | undefined;
  afterEach(async () => {
    await t?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    t = undefined;
  });

  it('is off unless given', () => {
    expect(parseAgentOptions({ token: 't', name: 'n1' }, {}, '/', machine).allowPrivileged).toBe(false);
    expect(parseAgentOptions({ token: 't', name: 'n1', allowPrivileged: true }, {}, '/', machine).allowPrivileged).toBe(true);
  });

  it('is reported on the node the agent registers', async () => {
    t = await startApi();
    stateDir = mkdtempSync(join(tmpdir(), 'capstan-priv-'));
    const agent = new NodeAgent({
      server: t.url,
      token: t.tokens.agentA,
      name: 'node-a',
      runtime: new ProcessRuntime({ stateDir, node: 'node-a' }),
      capacity: { cpu: 1000, memory: 2 ** 30 },
      stateDir,
      allowPrivileged: true,
    });
    await agent.start();
    try {
      const kv = await t.kv.get(`${STORE_PREFIX.nodes}node-a`);
      const node = JSON.parse(Buffer.from(kv!.value).toString('utf8')) as NodeInfo;
      expect(node.allowPrivileged).toBe(true);
    } finally {
      await agent.stop({ stopPods: true });
    }
  });
});

describe('what an agent may read for its pods', () => {
  it('the Secrets in imagePullSecrets and the init containers env sources, on its own node only', async () => {
    const kv = await openEmbeddedStore();
    try {
      const pod = makePod(
        'web',
        [{ name: 'app', image: 'x' }],
        {
          nodeName: 'node-a',
          imagePullSecrets: [{ name: 'regcred' }],
          initContainers: [{ name: 'init', image: 'x', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'init-config', key: 'a' } } }] }],
        },
      );
      await kv.put(`${STORE_PREFIX.pods}default/web`, JSON.stringify(pod));
      const agentA = { role: 'agent', node: 'node-a', user: 'agent:node-a', id: 'a' } as never;
      const agentB = { role: 'agent', node: 'node-b', user: 'agent:node-b', id: 'b' } as never;
      expect(await agentNeedsEnvSource(kv, agentA, ['Secret', 'default', 'regcred'])).toBe(true);
      expect(await agentNeedsEnvSource(kv, agentA, ['ConfigMap', 'default', 'init-config'])).toBe(true);
      expect(await agentNeedsEnvSource(kv, agentA, ['ConfigMap', 'default', 'regcred'])).toBe(false);
      expect(await agentNeedsEnvSource(kv, agentA, ['Secret', 'default', 'other'])).toBe(false);
      expect(await agentNeedsEnvSource(kv, agentB, ['Secret', 'default', 'regcred'])).toBe(false);
    } finally {
      await kv.close();
    }
  });
});
