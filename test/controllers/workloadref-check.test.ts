// The commit-wide check of a Rollout's spec.workloadRef: the Deployment must be in the commit
// (an error at workloadRef.name, file:line:col), under another name than the Rollout.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDesired } from '../../src/render/index.js';
import { tempDir, writeFiles } from '../helpers/git.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function load(files: Record<string, string>) {
  const dir = tempDir('capstan-wref-');
  dirs.push(dir);
  writeFiles(dir, files);
  return loadDesired(dir);
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
`;

const rollout = (name: string, ref: string) => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: 3
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ${ref}
    scaleDown: onsuccess
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {duration: 10}}]
`;

describe('Rollout spec.workloadRef across the commit', () => {
  it('accepts a Deployment in the commit', async () => {
    const state = await load({ 'web.yaml': DEPLOYMENT, 'rollout.yaml': rollout('web-rollout', 'web') });
    expect(state.errors).toEqual([]);
    expect(state.objects.map((o) => o.object.kind).sort()).toEqual(['Deployment', 'Rollout']);
  });

  it('refuses a missing Deployment, and one with the Rollout\'s own name, at workloadRef.name', async () => {
    const missing = await load({ 'rollout.yaml': rollout('web-rollout', 'api') });
    expect(missing.errors).toHaveLength(1);
    expect(missing.errors[0]).toMatchObject({ code: 'CAPSTAN_ERR_API_REFERENCE', file: 'rollout.yaml', line: 9, column: 5, field: 'spec.workloadRef.name' });
    expect(missing.errors[0]!.message).toContain('Deployment default/api, which is not in this commit');
    const same = await load({ 'web.yaml': DEPLOYMENT, 'rollout.yaml': rollout('web', 'web') });
    expect(same.errors.map((e) => [e.line, e.message])).toEqual([[9, expect.stringContaining('has the name of the Deployment it references')]]);
  });
});
