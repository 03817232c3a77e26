// Shared by the agent tests: pod objects as the control plane stores them, and a loop that
// moves a virtual clock until the manager reports what the test expects.

import { vi } from 'vitest';
import type { ContainerSpec, Pod, PodStatus } from '../../src/api/cluster.js';
import type { ManualClock, PodManager } from '../../src/agent/index.js';

export function makePod(name: string, containers: ContainerSpec[], spec: Partial<Pod['spec']> = {}, namespace = 'default'): Pod {
  return {
    metadata: {
      name,
      namespace,
      labels: { app: name },
      owner: { kind: 'Deployment', name, revision: 'r1' },
      createdAt: new Date(0).toISOString(),
    },
    spec: { containers, restartPolicy: 'Always', terminationGracePeriodSeconds: 30, ...spec },
    status: { phase: 'Pending', ready: false },
  };
}

export function probe(action: Pick<NonNullable<ContainerSpec['readinessProbe']>, 'httpGet' | 'tcpSocket' | 'exec'>, timing: Partial<NonNullable<ContainerSpec['readinessProbe']>> = {}): NonNullable<ContainerSpec['readinessProbe']> {
  return { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, ...action, ...timing };
}

/** Collects every status the manager reports. */
export class StatusLog {
  readonly seen: Array<{ key: string; status: PodStatus }> = [];
  readonly removed: string[] = [];
  onStatus = (pod: Pod, status: PodStatus): void => {
    this.seen.push({ key: `${pod.metadata.namespace}/${pod.metadata.name}`, status });
  };
  onRemoved = (pod: Pod): void => {
    this.removed.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
  };
  last(name: string, namespace = 'default'): PodStatus | undefined {
    for (let i = this.seen.length - 1; i >= 0; i--) if (this.seen[i].key === `${namespace}/${name}`) return this.seen[i].status;
    return undefined;
  }
}

/**
 * Step the virtual clock by `stepMs` and let the manager work, until `check` stops throwing.
 * Real processes need real time to start and exit, so this polls in real time as well.
 */
export async function until(manager: PodManager, clock: ManualClock | undefined, stepMs: number, check: () => void | Promise<void>, timeout = 10_000): Promise<void> {
  await vi.waitFor(
    async () => {
      if (clock !== undefined && stepMs > 0) clock.advance(stepMs);
      await manager.idle();
      await check();
    },
    { timeout, interval: 30 },
  );
}
