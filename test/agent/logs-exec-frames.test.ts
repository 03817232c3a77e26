// The exec frame codec and the log helpers that need no process: pure functions.
import { describe, expect, it } from 'vitest';
import { CHANNEL, FrameDecoder, MAX_FRAME_PAYLOAD, encodeData, encodeExit, encodeFrame, encodeResize, parseExit, parseResize } from '../../src/agent/exec-frames.js';
import { parseExecQuery } from '../../src/agent/exec.js';
import { parseLogQuery, tailOffset } from '../../src/agent/logs.js';
import { parseDuration, parseTarget, pickPod, warningTexts } from '../../src/cli/commands/logs.js';
import { pickContainer } from '../../src/server/pod-proxy.js';
import { makePod } from './pods.js';

describe('exec frames', () => {
  it('encodes channel, big-endian length and payload', () => {
    expect([...encodeFrame(CHANNEL.stdout, 'hi')]).toEqual([1, 0, 0, 0, 2, 0x68, 0x69]);
    expect([...encodeFrame(CHANNEL.stdin)]).toEqual([0, 0, 0, 0, 0]);
    expect(() => encodeFrame(256, 'x')).toThrow(RangeError);
  });

  it('reassembles frames split anywhere, byte by byte included', () => {
    const stream = Buffer.concat([encodeFrame(1, 'hello'), encodeFrame(0), encodeExit({ exitCode: 3 }), encodeResize({ cols: 80, rows: 24 })]);
    for (const step of [1, 2, 3, 7, stream.length]) {
      const d = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < stream.length; i += step) frames.push(...d.push(stream.subarray(i, i + step)));
      expect(frames.map((f) => [f.channel, f.payload.toString()])).toEqual([
        [1, 'hello'],
        [0, ''],
        [3, '{"exitCode":3}'],
        [4, '{"cols":80,"rows":24}'],
      ]);
      expect(d.pending).toBe(0);
    }
  });

  it('refuses a frame over the limit and splits big data into several', () => {
    const header = Buffer.alloc(5);
    header.writeUInt8(1, 0);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 1);
    expect(() => new FrameDecoder().push(header)).toThrow(/over the/);
    const frames = encodeData(2, Buffer.alloc(MAX_FRAME_PAYLOAD + 10, 0x61));
    expect(frames).toHaveLength(2);
    expect(frames[1]!.readUInt32BE(1)).toBe(10);
    expect(encodeData(1, Buffer.alloc(0))).toEqual([]);
  });

  it('parses exit and resize payloads, refusing malformed ones', () => {
    expect(parseExit(Buffer.from('{"exitCode":0}'))).toEqual({ exitCode: 0 });
    expect(parseExit(Buffer.from('{"error":"boom"}'))).toEqual({ error: 'boom' });
    expect(parseExit(Buffer.from('nope')).error).toBeDefined();
    expect(parseResize(Buffer.from('{"cols":120,"rows":40}'))).toEqual({ cols: 120, rows: 40 });
    expect(parseResize(Buffer.from('{"cols":-1,"rows":40}'))).toBeUndefined();
  });
});

describe('log and exec queries', () => {
  it('reads kubectl parameter names and refuses bad values', () => {
    expect(parseLogQuery(new URLSearchParams('follow=true&tailLines=5&sinceSeconds=60'))).toEqual({ follow: true, previous: false, timestamps: false, tailLines: 5, sinceSeconds: 60 });
    expect(() => parseLogQuery(new URLSearchParams('tailLines=-1'))).toThrow(/tailLines/);
    expect(() => parseLogQuery(new URLSearchParams('follow=maybe'))).toThrow(/follow/);
    expect(parseExecQuery(new URLSearchParams('command=sh&command=-c&command=ls&tty=1'))).toEqual({ command: ['sh', '-c', 'ls'], tty: true, stdin: false });
    expect(() => parseExecQuery(new URLSearchParams(''))).toThrow(/command/);
  });

  it('finds where the last N lines start', async () => {
    const text = Buffer.from('a\nbb\nccc\n');
    const read = async (b: Buffer, pos: number) => text.copy(b, 0, pos, pos + b.length);
    expect(await tailOffset(read, text.length, 1)).toBe(5);
    expect(await tailOffset(read, text.length, 2)).toBe(2);
    expect(await tailOffset(read, text.length, 10)).toBe(0);
    expect(await tailOffset(read, text.length, 0)).toBe(text.length);
  });
});

describe('capstan logs helpers', () => {
  it('parses durations, targets and warnings', () => {
    expect(parseDuration('5m')).toBe(300);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('1.5s')).toBe(2);
    expect(() => parseDuration('5 minutes')).toThrow(/--since/);
    expect(parseTarget('web-1')).toEqual({ pod: 'web-1' });
    expect(parseTarget('deploy/web')).toMatchObject({ kinds: ['Deployment'], name: 'web' });
    expect(() => parseTarget('service/web')).toThrow(/capstan logs takes/);
    expect(warningTexts('299 - "one", 299 - "two \\"quoted\\""')).toEqual(['one', 'two "quoted"']);
  });

  it('picks a ready running pod first, then the newest', () => {
    const p = (name: string, ready: boolean, phase: 'Running' | 'Pending', createdAt: string) => {
      const pod = makePod(name, [{ name: 'c', image: 'x' }], { nodeName: 'n' });
      return { ...pod, metadata: { ...pod.metadata, createdAt }, status: { phase, ready } };
    };
    expect(pickPod([p('old-ready', true, 'Running', '2026-01-01T00:00:00Z'), p('new-pending', false, 'Pending', '2026-02-01T00:00:00Z')])!.metadata.name).toBe('old-ready');
    expect(pickPod([p('a', true, 'Running', '2026-01-01T00:00:00Z'), p('b', true, 'Running', '2026-02-01T00:00:00Z')])!.metadata.name).toBe('b');
  });

  it('chooses the container as kubectl does', () => {
    const one = makePod('web', [{ name: 'app', image: 'x' }]);
    expect(pickContainer(one, undefined)).toBe('app');
    const two = makePod('web', [
      { name: 'app', image: 'x' },
      { name: 'sidecar', image: 'y' },
    ]);
    expect(() => pickContainer(two, undefined)).toThrow('a container name must be specified for pod web, choose one of: [app sidecar]');
    expect(pickContainer(two, 'sidecar')).toBe('sidecar');
    expect(() => pickContainer(two, 'nope')).toThrow(/container nope is not valid for pod web/);
    const annotated = { ...two, metadata: { ...two.metadata, annotations: { 'kubectl.kubernetes.io/default-container': 'sidecar' } } };
    expect(pickContainer(annotated, undefined)).toBe('sidecar');
  });
});
