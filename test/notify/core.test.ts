import { describe, expect, it } from 'vitest';
import type { ClusterEvent, WorkloadStatus } from '../../src/api/cluster.js';
import type { Notification } from '../../src/api/index.js';
import {
  jittered,
  notificationWants,
  occurrenceFromEvent,
  occurrenceFromSync,
  occurrencesFromStatus,
  renderMessage,
  renderText,
  retrySchedule,
  scrub,
  selectorMatches,
  signBody,
  slackPayload,
  statusContext,
  statusDescription,
  statusState,
  triggerOfEvent,
  verifySignature,
  type Occurrence,
} from '../../src/notify/index.js';

const event = (reason: string, message: string, extra: Partial<ClusterEvent> = {}): ClusterEvent => ({
  namespace: 'default',
  object: 'Rollout/web',
  type: 'Normal',
  reason,
  message,
  source: 'workload-controller',
  count: 1,
  firstSeen: '2026-03-01T12:00:00.000Z',
  lastSeen: '2026-03-01T12:00:00.000Z',
  ...extra,
});

describe('trigger mapping', () => {
  it('maps workload event reasons to triggers, and a rollback start to rolled-back', () => {
    expect(triggerOfEvent(event('RolloutStarted', 'Rolling out revision 2 (web-abc)'))).toBe('rollout-started');
    expect(triggerOfEvent(event('RolloutStarted', 'Rolling out revision 3 (web-abc) (rollback to revision 1)'))).toBe('rolled-back');
    expect(triggerOfEvent(event('RolloutStarted', 'Rolling out revision 3 (web-abc) (live rollback to revision 1; Git is ahead)'))).toBe('rolled-back');
    expect(triggerOfEvent(event('RolloutPaused', 'paused'))).toBe('paused');
    expect(triggerOfEvent(event('RolloutCompleted', 'Revision 2 (web-abc) is available'))).toBe('healthy');
    expect(triggerOfEvent(event('RolloutAborted', 'aborted', { type: 'Warning' }))).toBe('aborted');
    expect(triggerOfEvent(event('ProgressDeadlineExceeded', 'timed out', { type: 'Warning' }))).toBe('degraded');
    expect(triggerOfEvent(event('ScalingReplicaSet', 'Scaled up'))).toBeUndefined();
    expect(triggerOfEvent(event('RolloutStarted', 'x', { object: 'Pod/web-1' }))).toBeUndefined();
    expect(triggerOfEvent(event('NotificationSent', 'x', { object: 'Notification/team' }))).toBeUndefined();
  });

  it('an event occurrence carries the workload, revision and an id per coalesced count', () => {
    const o = occurrenceFromEvent('default/rollout.web.abc.1', event('RolloutCompleted', 'Revision 2 (web-abc) is available', { count: 3 }))!;
    expect(o).toMatchObject({ trigger: 'healthy', namespace: 'default', kind: 'Rollout', name: 'web', revision: 2, id: 'event:default/rollout.web.abc.1#3' });
  });

  it('a sync state gives sync-succeeded / sync-failed with the commit and the first error at file:line:col; a conflict nothing', () => {
    const ok = occurrenceFromSync({ id: 'default', phase: 'Synced', syncedCommit: 'a'.repeat(40), seenCommit: 'a'.repeat(40), message: '1 created', errors: [], at: '2026-03-01T12:00:00Z' })!;
    expect(ok).toMatchObject({ trigger: 'sync-succeeded', commit: 'a'.repeat(40), kind: 'Source', name: 'default' });
    const badState = {
      id: 'default',
      phase: 'Invalid',
      syncedCommit: 'a'.repeat(40),
      seenCommit: 'b'.repeat(40),
      message: '1 error(s)',
      errors: [{ file: 'apps/web.yaml', line: 7, column: 5, message: 'spec.replicas must be an integer', code: 'CAPSTAN_ERR_API_SCHEMA' }],
      at: '2026-03-01T12:00:00Z',
    };
    const bad = occurrenceFromSync(badState)!;
    expect(bad).toMatchObject({ trigger: 'sync-failed', commit: 'b'.repeat(40), firstError: 'apps/web.yaml:7:5: spec.replicas must be an integer' });
    expect(statusDescription(bad)).toBe('apps/web.yaml:7:5: spec.replicas must be an integer');
    expect(statusState(bad.trigger)).toBe('failure');
    expect(statusState(ok.trigger)).toBe('success');
    expect(statusContext(ok)).toBe('capstan/sync');
    // Written again by the next poll (another `at`): the same id, so it is told once.
    expect(occurrenceFromSync({ ...badState, at: '2026-03-01T12:01:00Z' })!.id).toBe(bad.id);
    expect(occurrenceFromSync({ id: 'default', phase: 'Conflict', message: '', errors: [], at: '' })).toBeUndefined();
  });

  it('status changes tell canary steps and a pause left for progress, nothing on first sight or a new revision', () => {
    const st = (o: Partial<WorkloadStatus>): WorkloadStatus =>
      ({ namespace: 'default', name: 'web', kind: 'Rollout', phase: 'Progressing', revision: 2, step: 1, stepCount: 4, observedAt: '2026-03-01T12:00:00Z', ...o }) as WorkloadStatus;
    expect(occurrencesFromStatus(undefined, st({}))).toEqual([]);
    expect(occurrencesFromStatus({ revision: 1, phase: 'Healthy' }, st({}))).toEqual([]);
    const steps = occurrencesFromStatus({ revision: 2, phase: 'Progressing', step: 1 }, st({ step: 2, weight: 40 }));
    expect(steps.map((o) => [o.trigger, o.id, o.message])).toEqual([['step', 'status:Rollout/default/web/2/step/2', 'revision 2 reached step 2/4 (weight 40)']]);
    const promoted = occurrencesFromStatus({ revision: 2, phase: 'Paused', step: 1 }, st({ step: 2 })).map((o) => o.trigger);
    expect(promoted).toEqual(['promoted', 'step']);
    expect(occurrencesFromStatus({ revision: 2, phase: 'Paused', step: 1 }, st({ phase: 'Degraded', step: 1 }))).toEqual([]);
  });
});

describe('which Notifications want an occurrence', () => {
  const n = (spec: Partial<Notification['spec']>, namespace = 'default'): { notification: Notification; appliedAt: string } => ({
    notification: { apiVersion: 'capstan.dev/v1', kind: 'Notification', metadata: { name: 'team', namespace }, spec: { triggers: ['healthy'], sinks: [], ...spec } },
    appliedAt: '2026-03-01T11:00:00.000Z',
  });
  const o: Occurrence = { id: 'x', trigger: 'healthy', namespace: 'default', kind: 'Rollout', name: 'web', message: 'ok', at: '2026-03-01T12:00:00.000Z' };

  it('needs the trigger, the namespace, a time after the Notification was applied, the selector and the condition', () => {
    expect(notificationWants(n({}), o, {})).toBe(true);
    expect(notificationWants(n({ triggers: ['degraded'] }), o, {})).toBe(false);
    expect(notificationWants(n({}, 'other'), o, {})).toBe(false);
    expect(notificationWants({ ...n({}), appliedAt: '2026-03-01T13:00:00.000Z' }, o, {})).toBe(false);
    expect(notificationWants(n({ selector: { matchLabels: { app: 'web' } } }), o, { app: 'web' })).toBe(true);
    expect(notificationWants(n({ selector: { matchLabels: { app: 'web' } } }), o, { app: 'db' })).toBe(false);
    expect(notificationWants(n({ when: "result.kind == 'Rollout' && result.labels.tier == 'front'" }), o, { tier: 'front' })).toBe(true);
    expect(notificationWants(n({ when: "result.kind == 'Deployment'" }), o, {})).toBe(false);
    // A sync concerns every namespace; the selector is about workloads only.
    const sync: Occurrence = { id: 's', trigger: 'sync-failed', kind: 'Source', name: 'default', message: 'bad', at: o.at };
    expect(notificationWants(n({ triggers: ['sync-failed'], selector: { matchLabels: { app: 'web' } } }, 'other'), sync, {})).toBe(true);
  });

  it('label selector expressions', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'stage'] }] }, { env: 'prod' })).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, { env: 'prod' })).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }, {})).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });
});

describe('templates', () => {
  it('renders liquid over the occurrence fields, with a default title and body', async () => {
    const m = await renderMessage({ body: '{{ workload }} {{ trigger }} at {{ revision }}: {{ message | upcase }}' }, { workload: 'web', trigger: 'healthy', revision: 2, message: 'ok', kind: 'Rollout', namespace: 'default', name: 'web' });
    expect(m).toEqual({ title: 'Rollout default/web: healthy', body: 'web healthy at 2: OK' });
  });

  it('reads no files, runs no code, reads no prototype properties and cuts long output', async () => {
    await expect(renderText("{% include '/etc/passwd' %}", {})).rejects.toMatchObject({ code: 'CAPSTAN_ERR_NOTIFY_TEMPLATE' });
    await expect(renderText('{{ x | nosuchfilter }}', { x: 1 })).rejects.toMatchObject({ code: 'CAPSTAN_ERR_NOTIFY_TEMPLATE' });
    expect(await renderText('[{{ message.constructor }}][{{ message.length }}]', { message: 'abc' })).toBe('[][3]');
    const long = await renderText('{% for i in (1..5000) %}xxxx{% endfor %}', {});
    expect(long.length).toBeLessThanOrEqual(8000);
  });
});

describe('signatures, redaction and back-off', () => {
  it('signs the body with HMAC-SHA256 as sha256=<hex>, and the receiver check fails on any change', () => {
    const body = '{"a":1}';
    // RFC 4231 test case 2.
    expect(signBody('Jefe', 'what do ya want for nothing?')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    expect(signBody('k3y', body)).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signBody('k3y', body)).not.toBe(signBody('other', body));
    expect(verifySignature('k3y', body, signBody('k3y', body))).toBe(true);
    expect(verifySignature('k3y', '{"a":2}', signBody('k3y', body))).toBe(false);
    expect(verifySignature('k3y', body, undefined)).toBe(false);
  });

  it('scrubs secret values and URL credentials out of text', () => {
    expect(scrub('POST https://hooks.slack.test/T000/SECRETPATH failed', ['https://hooks.slack.test/T000/SECRETPATH'])).toBe('POST [redacted] failed');
    expect(scrub('token ghp_abcdef1234 refused', ['ghp_abcdef1234'])).toBe('token [redacted] refused');
    expect(scrub('at https://user:pw@host/x', [])).toBe('at https://[redacted]@host/x');
  });

  it('the retry schedule doubles from the base up to the cap, each delay jittered into [d/2, d)', () => {
    expect(retrySchedule({ baseMs: 1000, maxMs: 8000, maxAttempts: 6, random: () => 0 })).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(retrySchedule({ baseMs: 1000, maxMs: 8000, maxAttempts: 6, random: () => 0.999999 })).toEqual([999, 1999, 3999, 7999, 7999]);
    expect(retrySchedule({ baseMs: 100, maxAttempts: 1 })).toEqual([]);
    expect(jittered(1000, () => 0.5)).toBe(750);
  });

  it('a Slack message is text with a bold title and one mrkdwn section', () => {
    expect(slackPayload({ title: 'web healthy', body: 'revision 2' })).toEqual({
      text: '*web healthy*\nrevision 2',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*web healthy*\nrevision 2' } }],
    });
  });
});
