// A large accepted scale-up, then the workload's removal from Git: every pod the controllers
// create, stop or remove is written in bounded transactions, the other workload stays Healthy
// throughout, and the store ends with no pod of the removed one.
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CREATES_PER_PASS, MAX_REMOVALS_PER_PASS } from '../../src/controllers/workload/index.js';
import type { TxnRequest } from '../../src/store/index.js';
import { deployment, harness, type Harness } from '../helpers/fake-kubelet.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('bounded scale-up and cleanup', () => {
  it('5,000 replicas up, then removed from Git: back to 0 pods in transactions of bounded size', { timeout: 420_000 }, async () => {
    h = await harness({ kubelet: { readyAfterMs: 1000 } });
    // Every transaction the controllers write is measured at the store's door.
    let largest = 0;
    const txn = h.kv.txn.bind(h.kv);
    h.kv.txn = (req: TxnRequest) => {
      largest = Math.max(largest, req.success.length);
      return txn(req);
    };

    await h.apply(deployment('other', 'other:1', { replicas: 3 }));
    const otherHealthy = async () => {
      const s = await h!.status('other');
      return s?.phase === 'Healthy' && s.readyReplicas === 3;
    };
    await h.drive(otherHealthy);

    await h.apply(deployment('big', 'big:1', { replicas: 5000 }));
    let otherSeenUnhealthy = false;
    const watchOther = async () => {
      if (!(await otherHealthy())) otherSeenUnhealthy = true;
    };
    await h.drive(async () => {
      await watchOther();
      const s = await h!.status('big');
      return s?.phase === 'Healthy' && s.readyReplicas === 5000;
    }, 2000);
    expect((await h.pods()).filter((p) => p.metadata.owner.name === 'big')).toHaveLength(5000);

    await h.remove('Deployment', 'big');
    await h.drive(async () => {
      await watchOther();
      return (await h!.pods()).every((p) => p.metadata.owner.name !== 'big');
    }, 2000);

    expect(otherSeenUnhealthy).toBe(false);
    expect(await otherHealthy()).toBe(true);
    expect((await h.pods()).map((p) => p.metadata.owner.name)).toEqual(['other', 'other', 'other']);
    // No transaction wrote more than one pass's worth of pods.
    expect(largest).toBeLessThanOrEqual(Math.max(MAX_CREATES_PER_PASS, MAX_REMOVALS_PER_PASS) + 5);
  });
});
