import { describe, expect, it } from 'vitest';
import { wellKnownNodeLabels } from '../../src/agent/node-labels.js';

describe('well-known node labels', () => {
  it('names os and arch as Kubernetes does', () => {
    expect(wellKnownNodeLabels('n1', 'linux', 'x64')).toEqual({
      'kubernetes.io/hostname': 'n1',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'amd64',
      'node.kubernetes.io/instance-type': 'capstan',
    });
    expect(wellKnownNodeLabels('n2', 'win32', 'arm64')).toMatchObject({ 'kubernetes.io/os': 'windows', 'kubernetes.io/arch': 'arm64' });
    expect(wellKnownNodeLabels('n3', 'linux', 'ppc64')['kubernetes.io/arch']).toBe('ppc64le');
  });
});
