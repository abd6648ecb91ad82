import { Readable } from 'node:stream';
import {
  invalidArgument,
  type ContainersHandlers,
  type DataChunk,
  type Logger,
  type OutputFrame,
  type AttachRequest__Output,
  type ExecRequest__Output,
  type CopyToRequest__Output,
} from '@shoal/api';
import type { Engine, IoFrame } from '@shoal/engine';
import { bidiStream, clientStream, headerAndRest, serverStream, unary } from './grpc-util.js';

/** The gRPC face of the engine's containers. Validation and errors come from the engine. */
export function containersServer(engine: Engine, log: Logger): ContainersHandlers {
  const c = engine.containers;
  const io = engine.io;
  return {
    Create: unary(log, 'Create', async (req) => {
      if (!req.spec) throw invalidArgument('create needs a container spec');
      return c.create(req.name, req.spec);
    }),
    Start: unary(log, 'Start', async (req) => {
      await c.start(req.id);
      return {};
    }),
    Stop: unary(log, 'Stop', async (req) => {
      await c.stop(req.id, req.timeout, req.signal);
      return {};
    }),
    Restart: unary(log, 'Restart', async (req) => {
      await c.restart(req.id, req.timeout);
      return {};
    }),
    Kill: unary(log, 'Kill', async (req) => {
      await c.kill(req.id, req.signal || 'KILL');
      return {};
    }),
    Remove: unary(log, 'Remove', async (req) => {
      await c.remove(req.id, req.force, req.volumes);
      return {};
    }),
    List: unary(log, 'List', async (req) => ({ containers: await io.list(req) })),
    Inspect: unary(log, 'Inspect', async (req) => ({ json: JSON.stringify(await io.inspect(req.id, req.size)) })),
    Wait: unary(log, 'Wait', async (req, signal) => ({ status_code: await c.wait(req.id, req.condition, signal), error: '' })),
    Logs: serverStream(log, 'Logs', (req, signal) => mapFrames(io.logs(req, signal))),
    Attach: bidiStream(log, 'Attach', (input, signal) => attach(input, signal)),
    Exec: bidiStream(log, 'Exec', (input, signal) => exec(input, signal)),
    Top: unary(log, 'Top', async (req) => io.top(req.id, req.ps_args)),
    Pause: unary(log, 'Pause', async (req) => {
      await c.pause(req.id);
      return {};
    }),
    Unpause: unary(log, 'Unpause', async (req) => {
      await c.unpause(req.id);
      return {};
    }),
    Rename: unary(log, 'Rename', async (req) => {
      await c.rename(req.id, req.name);
      return {};
    }),
    Update: unary(log, 'Update', async (req) => ({ warnings: await c.update(req.id, req.resources, req.set, req.restart_policy) })),
    CopyFrom: serverStream(log, 'CopyFrom', (req, signal) => chunks(io.copyFrom(req.id, req.path, signal), signal)),
    CopyTo: clientStream(log, 'CopyTo', async (input: AsyncIterable<CopyToRequest__Output>, signal) => {
      const { first, rest } = await headerAndRest(input);
      if (first?.part !== 'header' || !first.header) throw invalidArgument('copy: the first message must be the header');
      await io.copyTo(first.header.id, first.header.path, Readable.from(dataOf(rest, (m) => (m.part === 'data' ? m.data : undefined))), signal);
      return {};
    }),
    Stats: serverStream(log, 'Stats', (req, signal) => io.stats(req.id, req.stream, signal)),
    Export: serverStream(log, 'Export', (req, signal) => chunks(io.export(req.id, signal), signal)),
    Diff: unary(log, 'Diff', async (req) => ({ changes: await io.diff(req.id) })),
    Commit: unary(log, 'Commit', async (req) => ({ id: await io.commit(req) })),
    Prune: unary(log, 'Prune', async (req) => io.prune(req.filters)),
  };

  async function* attach(input: AsyncIterable<AttachRequest__Output>, signal: AbortSignal): AsyncGenerator<OutputFrame> {
    const { first, rest } = await headerAndRest(input);
    if (first?.part !== 'header' || !first.header) throw invalidArgument('attach: the first message must be the header');
    const session = await io.attach(first.header, signal);
    void pumpStdin(rest, session.stdin, (m) => m);
    yield* mapFrames(session.output);
  }

  async function* exec(input: AsyncIterable<ExecRequest__Output>, signal: AbortSignal): AsyncGenerator<OutputFrame> {
    const { first, rest } = await headerAndRest(input);
    if (first?.part !== 'config' || !first.config) throw invalidArgument('exec: the first message must be the exec config');
    const session = await io.exec(first.config, signal);
    void pumpStdin(rest, session.stdin, (m) => m);
    yield* mapFrames(session.output);
  }
}

interface StdinSink {
  write(data: Buffer): void;
  close(): void;
  resize(rows: number, cols: number): void;
}

type StdinMessage = { part?: string; stdin?: Buffer; close_stdin?: boolean; resize?: { rows: number; cols: number } | null };

/** Forwards stdin messages from the client to the process until the client half-closes. */
async function pumpStdin<M extends StdinMessage>(rest: AsyncIterator<M>, sink: StdinSink | undefined, map: (m: M) => StdinMessage): Promise<void> {
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done) break;
      const m = map(next.value);
      if (!sink) continue;
      if (m.part === 'stdin' && m.stdin) sink.write(m.stdin);
      else if (m.part === 'close_stdin') sink.close();
      else if (m.part === 'resize' && m.resize) sink.resize(m.resize.rows, m.resize.cols);
    }
  } catch {
    // the client went away: the process keeps its stdin open as docker does for a detached client
  }
}

async function* mapFrames(frames: AsyncIterable<IoFrame>): AsyncGenerator<OutputFrame> {
  for await (const f of frames) {
    yield { stream: f.stream, data: f.data, time: f.timeNs.toString(), exit_code: f.exitCode ?? 0 };
  }
}

async function* chunks(source: Promise<Readable>, signal: AbortSignal): AsyncGenerator<DataChunk> {
  const stream = await source;
  signal.addEventListener('abort', () => stream.destroy(), { once: true });
  for await (const chunk of stream) yield { data: chunk as Buffer };
}

async function* dataOf<M>(rest: AsyncIterator<M>, pick: (m: M) => Buffer | undefined): AsyncGenerator<Buffer> {
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    const d = pick(next.value);
    if (d) yield d;
  }
}
