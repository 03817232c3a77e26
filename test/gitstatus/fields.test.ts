// Status → annotations: the contract fields, messages safe to commit, which changes are worth a
// commit, and a ChartRelease reporting its worst workload.
import { describe, expect, it } from 'vitest';
import type { WorkloadStatus } from '../../src/api/cluster.js';
import { commitMessage, isMeaningfulChange, releaseAnnotations, sanitizeMessage, statusAnnotations } from '../../src/gitstatus/index.js';

function st(over: Partial<WorkloadStatus> = {}): WorkloadStatus {
  return {
    namespace: 'default', name: 'web', kind: 'Deployment', phase: 'Healthy', revision: 4, replicas: 3, readyReplicas: 3,
    availableReplicas: 3, updatedReplicas: 3, syncedCommit: 'c1', message: 'ok', conditions: [], observedAt: 'x', ...over,
  };
}

describe('status annotations', () => {
  it('maps a status to the contract fields', () => {
    expect(statusAnnotations(st({ readyReplicas: 2, message: '' }))).toEqual({
      'capstan.dev/phase': 'Healthy',
      'capstan.dev/revision': '4',
      'capstan.dev/synced-commit': 'c1',
      'capstan.dev/ready': '2/3',
      'capstan.dev/message': undefined,
    });
  });

  it('keeps messages to one line of at most 200 characters without URL credentials', () => {
    expect(sanitizeMessage('clone https://bob:s3cret@git.example/x failed\nretrying')).toBe('clone https://git.example/x failed retrying');
    expect(sanitizeMessage('pull bob:s3cret@registry.example/web')).toBe('pull registry.example/web');
    expect(sanitizeMessage('x'.repeat(500))).toHaveLength(200);
  });

  it('commits outcomes only: phase, revision, commit or ready of a settled rollout; nothing on the way', () => {
    const healthy = statusAnnotations(st());
    expect(isMeaningfulChange(healthy, statusAnnotations(st()))).toBe(false);
    expect(isMeaningfulChange(healthy, statusAnnotations(st({ revision: 5 })))).toBe(true);
    expect(isMeaningfulChange(healthy, statusAnnotations(st({ syncedCommit: 'c2' })))).toBe(true);
    expect(isMeaningfulChange(healthy, statusAnnotations(st({ readyReplicas: 2 })))).toBe(true);
    const progressing = statusAnnotations(st({ phase: 'Progressing', readyReplicas: 1 }));
    expect(isMeaningfulChange(progressing, statusAnnotations(st({ phase: 'Progressing', readyReplicas: 2 })))).toBe(false);
    // Steps and pauses of a rollout are not outcomes: Git keeps the last outcome until the next.
    expect(isMeaningfulChange(healthy, progressing)).toBe(false);
    expect(isMeaningfulChange({}, progressing)).toBe(false);
    expect(isMeaningfulChange(healthy, statusAnnotations(st({ phase: 'Paused', revision: 5 })))).toBe(false);
    expect(isMeaningfulChange(progressing, statusAnnotations(st({ revision: 5 })))).toBe(true);
    expect(isMeaningfulChange(healthy, statusAnnotations(st({ phase: 'Degraded', message: 'probe failed' })))).toBe(true);
    expect(isMeaningfulChange({}, healthy)).toBe(true);
  });

  it('reports a release as its worst workload, ready summed', () => {
    const a = releaseAnnotations([st({ name: 'api', revision: 2 }), st({ name: 'web', phase: 'Degraded', readyReplicas: 1, message: 'probe failed' })], 'c9');
    expect(a).toEqual({
      'capstan.dev/phase': 'Degraded',
      'capstan.dev/revision': 'api=2,web=4',
      'capstan.dev/synced-commit': 'c9',
      'capstan.dev/ready': '4/6',
      'capstan.dev/message': 'web: probe failed',
    });
    expect(releaseAnnotations([])).toBeUndefined();
  });

  it('names one object in the subject, or counts several with a body', () => {
    const one = { kind: 'Deployment', namespace: 'default', name: 'web', annotations: statusAnnotations(st()) };
    expect(commitMessage([one])).toBe('capstan: web Healthy at revision 4 [skip ci]\n');
    expect(commitMessage([one, { ...one, name: 'api' }])).toBe(
      'capstan: status of 2 objects [skip ci]\n\n- Deployment default/web Healthy at revision 4\n- Deployment default/api Healthy at revision 4\n',
    );
  });
});
