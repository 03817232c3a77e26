// Running one probe or preStop action against a container: HTTP GET (2xx/3xx passes),
// TCP connect, or exec (exit 0 passes). Timeouts use the injected clock.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { AgentClock } from './clock.js';
import { resolveHostPort, type ContainerHandle, type RuntimeDriver } from './runtime.js';
import type { ProbeResult } from './probes.js';

export interface ProbeAction {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: 'HTTP' | 'HTTPS'; httpHeaders?: Array<{ name: string; value: string }> };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command: string[] };
}

export interface ProbeContext {
  driver: RuntimeDriver;
  handle: ContainerHandle;
  clock: AgentClock;
  /** Where the container's ports are reached (host networking or the process runtime: 127.0.0.1). */
  host: string;
  timeoutMs: number;
}

export interface ProbeOutcome {
  result: ProbeResult;
  message?: string;
}

export async function runProbe(action: ProbeAction, ctx: ProbeContext): Promise<ProbeOutcome> {
  if (action.exec !== undefined) {
    const r = await ctx.driver.exec(ctx.handle, action.exec.command, ctx.timeoutMs);
    if (r.timedOut) return { result: 'failure', message: `command timed out after ${ctx.timeoutMs / 1000}s` };
    return r.exitCode === 0 ? { result: 'success' } : { result: 'failure', message: `command exited with ${r.exitCode}: ${r.output.trim().slice(0, 200)}` };
  }
  if (action.httpGet !== undefined) {
    const port = resolveHostPort(ctx.handle.ports, action.httpGet.port);
    if (port === undefined) return { result: 'failure', message: `no port named "${String(action.httpGet.port)}"` };
    return httpGet(action.httpGet, action.httpGet.host || ctx.host, port, ctx);
  }
  if (action.tcpSocket !== undefined) {
    const port = resolveHostPort(ctx.handle.ports, action.tcpSocket.port);
    if (port === undefined) return { result: 'failure', message: `no port named "${String(action.tcpSocket.port)}"` };
    return tcpConnect(action.tcpSocket.host || ctx.host, port, ctx);
  }
  return { result: 'failure', message: 'the probe has no action' };
}

function httpGet(action: NonNullable<ProbeAction['httpGet']>, host: string, port: number, ctx: ProbeContext): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      ctx.clock.clearTimeout(timer);
      resolve(o);
    };
    const headers: Record<string, string> = { 'user-agent': 'capstan-probe/1.0', accept: '*/*', connection: 'close' };
    for (const h of action.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const path = action.path === undefined || action.path === '' ? '/' : action.path.startsWith('/') ? action.path : `/${action.path}`;
    const send = action.scheme === 'HTTPS' ? httpsRequest : httpRequest;
    // HTTPS probes skip certificate checks, as the kubelet's do.
    const req = send({ host, port, path, method: 'GET', headers, agent: false, rejectUnauthorized: false }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status >= 200 && status < 400) done({ result: 'success' });
      else done({ result: 'failure', message: `HTTP probe failed with statuscode: ${status}` });
    });
    const timer = ctx.clock.setTimeout(() => {
      done({ result: 'failure', message: `Get "${action.scheme === 'HTTPS' ? 'https' : 'http'}://${host}:${port}${path}": timeout after ${ctx.timeoutMs / 1000}s` });
      req.destroy();
    }, ctx.timeoutMs);
    req.on('error', (err) => done({ result: 'failure', message: `Get "http://${host}:${port}${path}": ${err.message}` }));
    req.end();
  });
}

function tcpConnect(host: string, port: number, ctx: ProbeContext): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    const socket = connect({ host, port });
    const done = (o: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      ctx.clock.clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = ctx.clock.setTimeout(() => done({ result: 'failure', message: `dial tcp ${host}:${port}: i/o timeout` }), ctx.timeoutMs);
    socket.once('connect', () => done({ result: 'success' }));
    socket.once('error', (err) => done({ result: 'failure', message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}
