// A pod's effective requests as the scheduler counts them: main containers plus sidecars,
// or the largest init container (with the sidecars started before it), whichever is larger.
import { describe, expect, it } from 'vitest';
import type { ContainerSpec, Pod } from '../../src/api/cluster.js';
import { podRequest } from '../../src/controllers/scheduling/view.js';

function c(name: string, cpu: string, memory: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { name, image: 'x:1', resources: { requests: { cpu, memory } }, ...extra };
}

function pod(containers: ContainerSpec[], initContainers?: ContainerSpec[]): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', labels: {}, owner: { kind: 'Deployment', name: 'p', revision: 'r' }, createdAt: '2026-01-01T00:00:00Z' },
    spec: { containers, ...(initContainers ? { initContainers } : {}), restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
    status: { phase: 'Pending', ready: false },
  };
}

describe('podRequest', () => {
  it('sums the main containers', () => {
    expect(podRequest(pod([c('a', '100m', '64Mi'), c('b', '200m', '64Mi')]))).toMatchObject({ cpu: 300, memory: 128 * 2 ** 20 });
  });

  it('takes the largest init container when it asks for more than the main containers', () => {
    // Kubernetes' example: init 2 CPU, app 1 CPU → the pod needs 2 CPU to schedule.
    const r = podRequest(pod([c('app', '1', '1Gi')], [c('migrate', '2', '256Mi'), c('warm', '500m', '2Gi')]));
    expect(r).toMatchObject({ cpu: 2000, memory: 2 * 2 ** 30 });
  });

  it('adds sidecars to the main containers and to the init containers started after them', () => {
    const sidecar = c('proxy', '100m', '128Mi', { restartPolicy: 'Always' });
    const r = podRequest(pod([c('app', '500m', '256Mi')], [sidecar, c('late-init', '800m', '64Mi')]));
    // main + sidecar = 600m; late-init + sidecar = 900m.
    expect(r).toMatchObject({ cpu: 900, memory: 384 * 2 ** 20 });
  });

  it('collects host ports of init containers too', () => {
    const r = podRequest(pod([c('app', '0', '0', { ports: [{ containerPort: 80, hostPort: 8080 }] })], [c('i', '0', '0', { ports: [{ containerPort: 9, hostPort: 9009, protocol: 'UDP' }] })]));
    expect(r.hostPorts).toEqual([
      { port: 8080, protocol: 'TCP' },
      { port: 9009, protocol: 'UDP' },
    ]);
  });
});
