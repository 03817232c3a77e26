// The `job` provider's contract with its runner (the narrow seam; the real runner is tested
// against a running control plane in job.test.ts): exit codes are verdicts that no condition
// overrides, a time-out is an error, and the Job spec's deadline is the time-out.
import { describe, expect, it } from 'vitest';
import { JOB_TIMEOUT_SECONDS, assessMeasurement, measure, summariseMetric, type JobRequest, type JobRunner } from '../../src/analysis/index.js';

const template = { metadata: { labels: { check: 'smoke' } }, spec: { containers: [{ name: 'c', image: 'x' }] } };

function runner(answer: Awaited<ReturnType<JobRunner>>): { run: JobRunner; asked: JobRequest[] } {
  const asked: JobRequest[] = [];
  return { asked, run: async (r) => (asked.push(r), answer) };
}

describe('job provider', () => {
  it('exit 0 is Successful and non-zero Failed, whatever the conditions say', async () => {
    const ok = runner({ exitCode: 0, pod: 'p-0' });
    const passed = await measure({ job: { spec: { template } } }, { runJob: ok.run, namespace: 'shop', workload: 'web', metric: 'smoke' });
    expect(ok.asked).toEqual([{ namespace: 'shop', workload: 'web', metric: 'smoke', template, timeoutSeconds: JOB_TIMEOUT_SECONDS }]);
    const metric = { name: 'smoke', successCondition: 'result == 42' };
    expect(assessMeasurement(metric, passed, 1)).toEqual({ phase: 'Successful', at: 1, value: 0 });

    const bad = runner({ exitCode: 2, pod: 'p-0', message: 'OOMKilled' });
    const failed = await measure({ job: { spec: { template, activeDeadlineSeconds: 30 } } }, { runJob: bad.run });
    expect(bad.asked[0]!.timeoutSeconds).toBe(30);
    expect(assessMeasurement({ name: 'smoke', successCondition: 'result == 2', noDataPolicy: 'pass' }, failed, 2)).toEqual({
      phase: 'Failed',
      at: 2,
      value: 2,
      message: 'smoke: job pod p-0 exited with code 2: OOMKilled',
    });
  });

  it('a time-out, a missing template or no runner are provider errors', async () => {
    const slow = runner({ timedOut: true, pod: 'p-0', message: 'pod p-0 (unscheduled, Pending) did not finish within 5s' });
    await expect(measure({ job: { timeoutSeconds: 5, spec: { template } } }, { runJob: slow.run })).rejects.toThrow('analysis provider: job: pod p-0 (unscheduled, Pending) did not finish within 5s');
    expect(slow.asked[0]!.timeoutSeconds).toBe(5);
    await expect(measure({ job: { spec: {} } }, { runJob: slow.run })).rejects.toThrow('job: spec.template.spec is required');
    await expect(measure({ job: { spec: { template } } }, {})).rejects.toThrow('job: no job runner here');
  });

  it('summaries count measurements by phase and keep the last value', () => {
    const s = summariseMetric('smoke', { phase: 'Running' }, [
      { phase: 'Successful', at: 1, value: 0 },
      { phase: 'Error', at: 2, message: 'boom' },
      { phase: 'Failed', at: 3, value: 1, message: 'exit 1' },
    ]);
    expect(s).toEqual({ name: 'smoke', phase: 'Running', measurements: 3, successful: 1, failed: 1, inconclusive: 0, errors: 1, lastValue: 1, lastPhase: 'Failed', message: 'exit 1' });
  });
});
