// Notification text: liquid templates as the chart stage uses them — no code execution, no
// files (include and render find nothing), own properties only, and limits on template size,
// render time, memory and output.
import { Liquid, type FS } from 'liquidjs';
import { CapstanError } from '../common/index.js';

export const TEMPLATE_LIMITS = Object.freeze({ templateBytes: 16 * 1024, renderMs: 500, memory: 4 * 1024 * 1024, outputChars: 8000 });

export const DEFAULT_TITLE = '{{ kind }} {% if namespace %}{{ namespace }}/{% endif %}{{ name }}: {{ trigger }}';
export const DEFAULT_BODY = '{{ message }}';

const nothing = (p: string): never => {
  throw new Error(`no file ${JSON.stringify(p)}: notification templates cannot include files`);
};

const noFiles: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (p) => nothing(p),
  readFileSync: (p) => nothing(p),
  resolve: (dir, file) => `${dir}/${file}`,
  contains: async () => false,
  containsSync: () => false,
  sep: '/',
  dirname: (p) => p.slice(0, p.lastIndexOf('/')),
};

const liquid = new Liquid({
  fs: noFiles,
  root: ['/'],
  relativeReference: false,
  cache: false,
  strictFilters: true,
  strictVariables: false,
  ownPropertyOnly: true,
  jsTruthy: false,
  parseLimit: TEMPLATE_LIMITS.templateBytes,
  renderLimit: TEMPLATE_LIMITS.renderMs,
  memoryLimit: TEMPLATE_LIMITS.memory,
});

/** Renders one template over `vars`; the output is cut at the output limit. */
export async function renderText(template: string, vars: Record<string, unknown>): Promise<string> {
  try {
    const out = String(await liquid.parseAndRender(template, vars));
    return out.length > TEMPLATE_LIMITS.outputChars ? `${out.slice(0, TEMPLATE_LIMITS.outputChars - 1)}…` : out;
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new CapstanError('CAPSTAN_ERR_NOTIFY_TEMPLATE', `template could not be rendered: ${first}`);
  }
}

export interface RenderedMessage {
  title: string;
  body: string;
}

export async function renderMessage(template: { title?: string; body?: string } | undefined, vars: Record<string, unknown>): Promise<RenderedMessage> {
  return {
    title: (await renderText(template?.title ?? DEFAULT_TITLE, vars)).trim(),
    body: (await renderText(template?.body ?? DEFAULT_BODY, vars)).trim(),
  };
}
