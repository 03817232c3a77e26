// `capstan exec POD [-c C] [-i] [-t] -- CMD ARGS...`: a command in a running container,
// through the API server and the pod's node agent (deployer or admin token). The upgraded
// connection speaks the frame protocol of src/agent/exec-frames.ts. With -t the local
// terminal goes to raw mode and its size follows SIGWINCH; the remote command's exit code
// becomes capstan's.
import type { Socket } from 'node:net';
import { CHANNEL, EXEC_PROTOCOL, FrameDecoder, encodeFrame, encodeResize, parseExit, type ExitMessage } from '../../agent/index.js';
import { CapstanError } from '../../common/errors.js';
import { connect, type ApiClient, type ConnectionOptions } from '../api-client.js';
import { ExitRequest, type CliIO } from '../io.js';
import { resolvePod } from './logs.js';

export interface ExecOptions extends ConnectionOptions {
  namespace?: string;
  container?: string;
  stdin?: boolean;
  tty?: boolean;
  /** Where the command's input comes from and its output goes (default: this process's). */
  input?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output?: NodeJS.WritableStream & { columns?: number; rows?: number; isTTY?: boolean };
  errors?: NodeJS.WritableStream;
}

export interface ExecStreams {
  input?: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  errors: NodeJS.WritableStream;
  /** Called with a function that sends a resize, once the session is open. */
  onOpen?: (resize: (cols: number, rows: number) => void) => void;
}

function usage(message: string): CapstanError {
  return new CapstanError('CAPSTAN_ERR_CLI_USAGE', message);
}

/** The exec URL of a pod (the query carries the command, one `command` per word). */
export function execPath(namespace: string, pod: string, command: string[], options: { container?: string; stdin?: boolean; tty?: boolean }): string {
  const q = new URLSearchParams();
  if (options.container) q.set('container', options.container);
  for (const c of command) q.append('command', c);
  q.set('stdin', options.stdin ? '1' : '0');
  q.set('tty', options.tty ? '1' : '0');
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q.toString()}`;
}

/**
 * Runs one exec session over an upgraded socket: input goes out as stdin frames (its end as
 * an empty one), stdout and stderr frames to their streams. Resolves with the exit frame
 * (an error when the connection ends without one).
 */
export function runExecSession(socket: Socket, head: Buffer, streams: ExecStreams): Promise<ExitMessage> {
  return new Promise((resolve) => {
    const decoder = new FrameDecoder();
    let exit: ExitMessage | undefined;
    const onInput = (chunk: Buffer | string): void => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (data.length > 0 && !socket.destroyed) socket.write(encodeFrame(CHANNEL.stdin, data));
    };
    const onInputEnd = (): void => {
      if (!socket.destroyed) socket.write(encodeFrame(CHANNEL.stdin));
    };
    const detach = (): void => {
      streams.input?.off('data', onInput);
      streams.input?.off('end', onInputEnd);
      streams.input?.pause();
    };
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        exit = { error: (err as Error).message };
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.channel === CHANNEL.stdout) streams.output.write(f.payload);
        else if (f.channel === CHANNEL.stderr) streams.errors.write(f.payload);
        else if (f.channel === CHANNEL.exit) exit = parseExit(f.payload);
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(head);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      detach();
      resolve(exit ?? { error: 'the connection closed before the command ended' });
    });
    streams.onOpen?.((cols, rows) => {
      if (!socket.destroyed) socket.write(encodeResize({ cols, rows }));
    });
    if (streams.input) {
      streams.input.on('data', onInput);
      streams.input.once('end', onInputEnd);
      streams.input.resume();
    }
  });
}

export async function runExec(io: CliIO, target: string, command: string[], opts: ExecOptions): Promise<void> {
  if (command.length === 0) throw usage('name the command after --, e.g. capstan exec web-1 -- sh -c "ls /"');
  const namespace = opts.namespace ?? 'default';
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const errors = opts.errors ?? process.stderr;
  let tty = opts.tty === true;
  if (tty && !input.isTTY) {
    io.err('Unable to use a TTY - input is not a terminal or the right kind of file\n');
    tty = false;
  }
  const api: ApiClient = connect(io, opts);
  const pod = await resolvePod(io, api, target, namespace);
  const { socket, head } = await api.upgrade(execPath(namespace, pod, command, { ...opts, tty }), EXEC_PROTOCOL);
  const raw = tty && typeof input.setRawMode === 'function';
  if (raw) input.setRawMode!(true);
  let onResize: (() => void) | undefined;
  let message: ExitMessage;
  try {
    message = await runExecSession(socket, head, {
      ...(opts.stdin ? { input } : {}),
      output,
      errors,
      onOpen: (resize) => {
        if (!tty) return;
        onResize = () => {
          if (output.columns && output.rows) resize(output.columns, output.rows);
        };
        onResize();
        process.on('SIGWINCH', onResize);
      },
    });
  } finally {
    if (onResize) process.off('SIGWINCH', onResize);
    if (raw) input.setRawMode!(false);
  }
  if (message.error !== undefined) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `exec in pod ${namespace}/${pod}: ${message.error}`);
  const code = message.exitCode ?? 1;
  if (code !== 0) throw new ExitRequest(code > 255 ? 1 : code);
}
