import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/index.js';
import { call, openSse, startApi, type TestApi } from '../helpers/api.js';
import { nodeBody } from './fixtures.js';

let t: TestApi;
let logs = '';
beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs += String(chunk);
      done();
    },
  });
  t = await startApi({ logger: createLogger({ level: 'debug', destination }) });
});
afterAll(async () => t.close());

describe('logging', () => {
  it('logs requests and token changes without any token', async () => {
    await call(t.url, 'GET', '/api/v1/pods', { token: t.tokens.viewer });
    await call(t.url, 'GET', '/api/v1/pods', { token: 'capstan_wrong-token-value' });
    await call(t.url, 'PUT', '/api/v1/nodes/node-a', { token: t.tokens.agentA, body: nodeBody('node-a') });
    const created = await call(t.url, 'POST', '/api/v1/tokens', { token: t.tokens.admin, body: { role: 'deployer', user: 'release-bot' } });
    expect(created.status).toBe(201);
    const s = await openSse(t.url, '/api/v1/pods?watch=1', { token: t.tokens.agentA });
    s.close();
    await call(t.url, 'DELETE', `/api/v1/tokens/${created.json.id}`, { token: t.tokens.admin });

    expect(logs).toContain('"route":"/api/v1/:resource"');
    expect(logs).toContain('token created');
    for (const token of [...Object.values(t.tokens), created.json.token, 'capstan_wrong-token-value']) {
      expect(logs).not.toContain(token);
    }
    expect(logs.toLowerCase()).not.toContain('bearer');
  });
});
