import {
  Context,
  Liquid,
  LiquidError,
  Tag,
  TokenKind,
  toPromise,
  type Emitter,
  type FS,
  type Parser,
  type TagToken,
  type Template,
  type TopLevelToken,
} from 'liquidjs';
import { HELM_FILTERS, type FilterImpl } from './filters.js';
import type { ChartFile, ChartLimits } from './types.js';

/** Raised when a render goes over a limit, so it is reported as CAPSTAN_ERR_CHART_LIMIT. */
export class ChartLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChartLimitError';
  }
}

/** Output bytes shared by every template (and sub-chart) of one render. */
export interface OutputBudget {
  used: number;
  max: number;
}

/**
 * Collects output and refuses to grow past the budget. Top-level emitters charge the shared
 * budget; nested ones (include, capture) are each capped at the same size, since anything
 * larger could never be written out anyway.
 */
class CappedEmitter implements Emitter {
  buffer = '';
  constructor(
    private readonly budget: OutputBudget,
    private readonly shared: boolean,
  ) {}

  write(html: unknown): void {
    const s = toOutput(html);
    if (s === '') return;
    const size = Buffer.byteLength(s, 'utf8');
    if (this.shared) {
      this.budget.used += size;
      if (this.budget.used > this.budget.max) throw new ChartLimitError(`rendered output is over the ${this.budget.max}-byte limit`);
    } else if (this.buffer.length + s.length > this.budget.max) {
      throw new ChartLimitError(`a captured or included block is over the ${this.budget.max}-byte limit`);
    }
    this.buffer += s;
  }
}

function toOutput(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(toOutput).join('');
  if (typeof v === 'object') {
    const inner = (v as { valueOf(): unknown }).valueOf();
    if (inner !== v) return toOutput(inner);
    // Helm would print map[...]; an object in YAML output is almost always a missing toYaml.
    throw new Error('cannot write a mapping as text: pipe it through toYaml or toJson');
  }
  return String(v);
}

interface Define {
  name: string;
  templates: Template[];
  file?: string;
}

interface EngineState {
  defines: Map<string, Define>;
  depth: number;
  budget: OutputBudget;
  limits: ChartLimits;
  /** Defines seen twice: lint reports them. */
  duplicates: { name: string; file?: string; line?: number }[];
}

const STATE = new WeakMap<Liquid, EngineState>();

function stateOf(liquid: Liquid): EngineState {
  const s = STATE.get(liquid);
  if (!s) throw new Error('chart engine state missing');
  return s;
}

/** `{% define "name" %}...{% enddefine %}`: a named block for the include filter (Helm's define). */
class DefineTag extends Tag {
  private readonly templates: Template[] = [];

  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid, parser: Parser) {
    super(token, remain, liquid);
    const quoted = this.tokenizer.readQuoted();
    if (!quoted) throw new Error('define needs a quoted name: {% define "chart.labels" %}');
    const name = quoted.content;
    let closed = false;
    while (remain.length) {
      const t = remain.shift() as TopLevelToken;
      if ((t as TagToken).name === 'enddefine' && t.kind === TokenKind.Tag) {
        closed = true;
        break;
      }
      this.templates.push(parser.parseToken(t, remain));
    }
    if (!closed) throw new Error(`tag ${token.getText()} not closed`);
    const state = stateOf(liquid);
    if (state.defines.has(name)) state.duplicates.push({ name, file: token.file, line: token.getPosition()[0] });
    state.defines.set(name, { name, templates: this.templates, file: token.file });
  }

  render(): void {
    // Defining writes nothing where the block stands.
  }
}

function* renderInclude(ctx: Context, liquid: Liquid, def: Define, arg: unknown, hasArg: boolean): Generator<unknown, string, unknown> {
  const state = stateOf(liquid);
  if (state.depth >= state.limits.includeDepth) {
    throw new ChartLimitError(`include of "${def.name}" nests deeper than ${state.limits.includeDepth} (does a define include itself?)`);
  }
  state.depth++;
  if (hasArg) ctx.push({ args: arg });
  try {
    const emitter = new CappedEmitter(state.budget, false);
    yield liquid.renderer.renderTemplates(def.templates, ctx, emitter);
    return emitter.buffer;
  } finally {
    if (hasArg) ctx.pop();
    state.depth--;
  }
}

/** Only the chart's own partial files, from memory: no disk, no root to escape from. */
function partialFS(files: Map<string, string>): FS {
  const resolveIn = (dir: string, file: string, ext: string): string => {
    const f = file + (ext && !file.endsWith(ext) ? ext : '');
    return `${dir}/${f}`;
  };
  return {
    exists: async (p) => files.has(p),
    existsSync: (p) => files.has(p),
    readFile: async (p) => {
      const s = files.get(p);
      if (s === undefined) throw new Error(`no partial ${p} in the chart`);
      return s;
    },
    readFileSync: (p) => {
      const s = files.get(p);
      if (s === undefined) throw new Error(`no partial ${p} in the chart`);
      return s;
    },
    resolve: resolveIn,
    contains: async (_root, p) => files.has(p),
    containsSync: (_root, p) => files.has(p),
    sep: '/',
    dirname: (p) => p.slice(0, p.lastIndexOf('/')),
  };
}

export interface ChartEngine {
  liquid: Liquid;
  state: EngineState;
  parse(file: ChartFile): Template[];
  /** Render parsed templates with a time budget (ms left) and the shared output budget. */
  render(templates: Template[], scope: object, timeLeftMs: number): Promise<string>;
}

/**
 * One liquidjs instance per chart render: strict filters, prototype-safe property access,
 * partials only from the chart, the Helm-like filters, `define`, and the `include` filter.
 */
export function createEngine(templatesDir: string, partials: ChartFile[], limits: ChartLimits, budget: OutputBudget): ChartEngine {
  const files = new Map(partials.map((p) => [p.path, p.content]));
  const liquid = new Liquid({
    fs: partialFS(files),
    root: [templatesDir],
    partials: [templatesDir],
    layouts: [templatesDir],
    relativeReference: false,
    extname: '',
    cache: false,
    strictFilters: true,
    strictVariables: false,
    ownPropertyOnly: true,
    jsTruthy: false,
    parseLimit: limits.outputBytes,
    memoryLimit: limits.memory,
  });
  const state: EngineState = { defines: new Map(), depth: 0, budget, limits, duplicates: [] };
  STATE.set(liquid, state);
  for (const [name, fn] of Object.entries(HELM_FILTERS)) liquid.registerFilter(name, fn);
  liquid.registerTag('define', DefineTag);
  liquid.registerFilter('include', function (this: FilterImpl, name: unknown, ...args: unknown[]) {
    const def = stateOf(this.liquid).defines.get(String(name));
    if (!def) throw new Error(`include: no define named ${JSON.stringify(String(name))} in this chart`);
    return renderInclude(this.context, this.liquid, def, args[0], args.length > 0);
  });
  return {
    liquid,
    state,
    parse: (file) => liquid.parse(file.content, file.path),
    async render(templates, scope, timeLeftMs) {
      const ctx = new Context(scope, liquid.options, { renderLimit: Math.max(1, timeLeftMs), memoryLimit: limits.memory }, { liquid });
      const emitter = new CappedEmitter(budget, true);
      await toPromise(liquid.renderer.renderTemplates(templates, ctx, emitter));
      return emitter.buffer;
    },
  };
}

export interface TemplateErrorInfo {
  limit: boolean;
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

const LIMIT_MESSAGES = /limit exceeded|Invalid string length|Invalid array length|Maximum call stack/;

/** The file, position and plain message of a liquidjs (or limit) error. */
export function describeTemplateError(err: unknown): TemplateErrorInfo {
  let limit = false;
  let message = err instanceof Error ? err.message : String(err);
  let e: unknown = err;
  // The innermost cause carries the real message; liquidjs wraps it with position text.
  while (e instanceof Error) {
    if (e instanceof ChartLimitError || LIMIT_MESSAGES.test(e.message)) limit = true;
    const inner: unknown = (e as LiquidError).originalError;
    if (!(inner instanceof Error)) break;
    e = inner;
  }
  if (e instanceof Error) message = e.message;
  message = message.replace(/, file:[^\n]*$/, '').replace(/, line:\d+, col:\d+$/, '');
  if (/template render limit exceeded/.test(message)) message = 'rendering took longer than the time limit (a loop that does not end?)';
  else if (/memory alloc limit exceeded/.test(message)) message = 'rendering allocated more than the memory limit (a huge range or string?)';
  else if (/parse length limit exceeded/.test(message)) message = 'the template is longer than the parse limit';
  const info: TemplateErrorInfo = { limit, message };
  if (err instanceof LiquidError && err.token) {
    const [line, column] = err.token.getPosition();
    info.file = err.token.file;
    info.line = line;
    info.column = column;
  }
  return info;
}
