import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assessMeasurement,
  evaluateMetric,
  evaluateRun,
  measure,
  parseCondition,
  selectJsonPath,
  type FetchLike,
  type Measurement,
  type MetricSpec,
} from '../../src/analysis/index.js';

describe('condition language', () => {
  const ok = (src: string, result: unknown) => parseCondition(src).evaluate(result as never);

  it('compares fields of the measurement with numbers, strings and logic', () => {
    const r = { successRate: 0.995, p99: 180, requests: 1200, status: 'ok', items: [1, 2, 3] };
    expect(ok('result.successRate >= 0.99', r)).toBe(true);
    expect(ok('result.successRate >= 0.999', r)).toBe(false);
    expect(ok('result.p99 < 200 && result.requests > 100', r)).toBe(true);
    expect(ok('result.p99 > 200 || !(result.status == "ok")', r)).toBe(false);
    expect(ok("result.status != 'down'", r)).toBe(true);
    expect(ok('len(result.items) == 3 && result.items[2] == 3', r)).toBe(true);
    expect(ok('(result.requests - 200) / 1000 == 1', r)).toBe(true);
    expect(ok('result[0] > 0.5', [0.7])).toBe(true);
    expect(ok('result > 2 * 3', 7)).toBe(true);
    expect(ok('isNil(result.missing)', r)).toBe(true);
    expect(ok('result.missing > 1', r)).toBe(false); // no data never passes a comparison
  });

  it('rejects anything but the measurement: names, prototypes, calls, syntax', () => {
    const bad = [
      'result.constructor',
      'result.__proto__',
      'result["constructor"]',
      'result.prototype',
      'process.exit()',
      'globalThis',
      'require("fs")',
      'eval("1")',
      'Function("return 1")()',
      'result.successRate.toString()',
      'len(result).constructor',
      'result >',
      'result = 1',
      '`x`',
      '"unterminated',
      'result; 1',
    ];
    for (const src of bad) {
      expect(() => parseCondition(src).evaluate({ successRate: 1 } as never), src).toThrow(/condition/);
    }
  });

  it('never reaches inherited properties through data', () => {
    expect(parseCondition('isNil(result.toString)').evaluate({} as never)).toBe(true);
    expect(parseCondition('isNil(result["hasOwnProperty"])').evaluate({} as never)).toBe(true);
  });
});

describe('measurements and runs', () => {
  const metric: MetricSpec = { name: 'success', successCondition: 'result.successRate >= 0.99', minRequests: 50 };

  it('assesses a value against the conditions, the minimum request count and the no-data policy', () => {
    expect(assessMeasurement(metric, { value: { successRate: 1 }, requests: 100 }, 0).phase).toBe('Successful');
    expect(assessMeasurement(metric, { value: { successRate: 0.9 }, requests: 100 }, 0).phase).toBe('Failed');
    const few = assessMeasurement(metric, { value: { successRate: 1 }, requests: 10 }, 0);
    expect(few.phase).toBe('Inconclusive');
    expect(few.message).toContain('fewer than the minimum 50');
    expect(assessMeasurement({ ...metric, noDataPolicy: 'fail' }, {}, 0).phase).toBe('Failed');
    expect(assessMeasurement({ ...metric, noDataPolicy: 'pass' }, {}, 0).phase).toBe('Successful');
    const both = { name: 'm', successCondition: 'result > 10', failureCondition: 'result < 5' };
    expect(assessMeasurement(both, { value: 7 }, 0).phase).toBe('Inconclusive');
    expect(assessMeasurement(both, { value: 3 }, 0).phase).toBe('Failed');
  });

  const m = (phase: Measurement['phase'], at: number): Measurement => ({ phase, at });

  it('applies count, interval, initialDelay and the limits', () => {
    const spec: MetricSpec = { name: 'x', interval: 10, count: 3, initialDelay: 5, failureLimit: 1 };
    expect(evaluateMetric(spec, [], 1000)).toEqual({ phase: 'Running', nextAt: 6000 });
    expect(evaluateMetric(spec, [m('Successful', 6000)], 1000)).toEqual({ phase: 'Running', nextAt: 16000 });
    expect(evaluateMetric(spec, [m('Successful', 6000), m('Failed', 16000), m('Successful', 26000)], 1000).phase).toBe('Successful');
    expect(evaluateMetric(spec, [m('Failed', 6000), m('Failed', 16000)], 1000).phase).toBe('Failed');
    const errors = [1, 2, 3, 4].map((i) => m('Error', i));
    expect(evaluateMetric(spec, errors, 0).phase).toBe('Running'); // 4 consecutive errors are tolerated
    expect(evaluateMetric(spec, [...errors, m('Error', 5)], 0).phase).toBe('Error');
    expect(evaluateMetric({ name: 'y', inconclusiveLimit: 0 }, [m('Inconclusive', 1)], 0).phase).toBe('Inconclusive');
    expect(evaluateMetric({ name: 'bg', interval: 60 }, Array.from({ length: 20 }, (_, i) => m('Successful', i * 60_000)), 0).phase).toBe('Running');
    expect(evaluateRun([{ phase: 'Successful' }, { phase: 'Inconclusive', message: 'no data' }])).toEqual({ phase: 'Inconclusive', message: 'no data' });
    expect(evaluateRun([{ phase: 'Inconclusive' }, { phase: 'Failed' }]).phase).toBe('Failed');
    expect(evaluateRun([{ phase: 'Successful' }, { phase: 'Successful' }]).phase).toBe('Successful');
  });
});

describe('providers', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/query')) {
        const q = new URL(req.url, 'http://x').searchParams.get('query');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: q === 'empty' ? [] : [{ metric: {}, value: [1, '0.97'] }] } }));
        return;
      }
      if (req.url === '/health') {
        res.end(JSON.stringify({ data: { checks: [{ ok: 1 }, { ok: 0.42 }] } }));
        return;
      }
      res.statusCode = 500;
      res.end('boom');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });
  const fetchLike = fetch as unknown as FetchLike;

  it('capstan reads the router window stats of the revision under analysis', async () => {
    const calls: unknown[] = [];
    const stats = (service: string, revision: string, window: number) => {
      calls.push([service, revision, window]);
      return { requests: 200, errors: 1, successRate: 0.995, p50: 10, p90: 40, p99: 90 };
    };
    const r = await measure({ capstan: { service: 'web', window: '5m' } }, { stats, revision: 'abc' });
    expect(calls).toEqual([['web', 'abc', 300]]);
    expect(r.requests).toBe(200);
    expect(assessMeasurement({ name: 's', successCondition: 'result.successRate > 0.99 && result.p99 < 100' }, r, 0).phase).toBe('Successful');
    expect(await measure({ capstan: { service: 'web' } }, { stats: () => undefined, revision: 'abc' })).toEqual({});
  });

  it('web and prometheus fetch JSON from 127.0.0.1', async () => {
    const web = await measure({ web: { url: `${base}/health`, jsonPath: '$.data.checks[1].ok' } }, { fetch: fetchLike });
    expect(web.value).toBe(0.42);
    const prom = await measure({ prometheus: { address: base, query: 'sum(rate(x[5m]))' } }, { fetch: fetchLike });
    expect(prom.value).toEqual([0.97]);
    expect(parseCondition('result[0] >= 0.95').evaluate(prom.value!)).toBe(true);
    const none = await measure({ prometheus: { address: base, query: 'empty' } }, { fetch: fetchLike });
    expect(assessMeasurement({ name: 'p', successCondition: 'result[0] > 0' }, none, 0).phase).toBe('Inconclusive');
    await expect(measure({ web: { url: `${base}/nope` } }, { fetch: fetchLike })).rejects.toThrow(/500/);
    expect(selectJsonPath({ a: 1 }, '$.__proto__')).toBeUndefined();
  });
});
