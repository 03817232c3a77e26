// Plan renderers: text for terminals (like `terraform plan`), Markdown for pull-request
// comments. JSON is the Plan object itself (see contract.md).

import type { Change, FieldChange, Plan, PlanProblem } from './types.js';

export interface TextStyle {
  color: boolean;
}

const ANSI = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;

function paint(style: TextStyle, code: keyof typeof ANSI, text: string): string {
  return style.color ? `\u001b[${ANSI[code]}m${text}\u001b[0m` : text;
}

/** A value on one line, cut at `max` characters. */
export function shortValue(value: unknown, max = 80): string {
  const s = value === undefined ? '(none)' : typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function where(p: PlanProblem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}${p.column !== undefined ? `:${p.column}` : ''}`;
}

function subject(c: Change): string {
  return `${c.kind} ${c.namespace}/${c.name}`;
}

function origin(c: Change): string {
  const at = c.file ? `${c.file}${c.line ? `:${c.line}` : ''}` : '';
  return [at, c.release ? `release ${c.release}` : ''].filter(Boolean).join(', ');
}

function fieldLine(f: FieldChange): string {
  if (!('from' in f)) return `+ ${f.path}: ${shortValue(f.to)}`;
  if (!('to' in f)) return `- ${f.path}: ${shortValue(f.from)}`;
  return `~ ${f.path}: ${shortValue(f.from)} → ${shortValue(f.to)}`;
}

function durationText(seconds: number | undefined, manual: boolean): string {
  if (manual) return 'waits for a promote';
  if (seconds === undefined || seconds === 0) return '';
  return `at least ${seconds}s`;
}

export function renderText(plan: Plan, style: TextStyle = { color: false }): string {
  const lines: string[] = [];
  const src = plan.source;
  lines.push(`Plan for ${src.location}${src.ref ? ` at ${src.ref}` : ''}${src.commit ? ` (${src.commit.slice(0, 12)})` : ''}`);
  if (plan.base.kind === 'ref') lines.push(`compared with ${plan.base.ref ?? ''}${plan.base.commit ? ` (${plan.base.commit.slice(0, 12)})` : ''}`);
  else if (plan.base.kind === 'server') lines.push(`compared with live state at ${plan.base.url}`);
  lines.push('');

  const sign = { create: ['+', 'green'], update: ['~', 'yellow'], delete: ['-', 'red'] } as const;
  for (const c of plan.changes) {
    const [mark, color] = sign[c.action];
    const from = origin(c);
    lines.push(`  ${paint(style, color, `${mark} ${subject(c)}`)}${from ? paint(style, 'dim', `  (${from})`) : ''}`);
    if (c.action === 'update') for (const f of c.fields) lines.push(`      ${fieldLine(f)}`);
    if (c.rollout) {
      const r = c.rollout;
      const d = durationText(r.minDurationSeconds, r.manualSteps);
      lines.push(`      rollout: ${r.strategy}${d ? `, ${d}` : ''}`);
      r.steps.forEach((s, i) => lines.push(`        ${i + 1}. ${s}`));
    }
    if (c.scheduling) lines.push(`      scheduling: ${paint(style, c.scheduling.fits ? 'green' : 'red', c.scheduling.summary)}`);
  }
  if (plan.changes.length === 0) lines.push('  No changes.');

  for (const w of plan.warnings) lines.push(paint(style, 'yellow', `warning: ${where(w)}: ${w.message}`));
  for (const e of plan.errors) lines.push(paint(style, 'red', `error: ${where(e)}: ${e.message}`));
  const s = plan.summary;
  lines.push('');
  lines.push(
    `Plan: ${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged.` +
      (plan.errors.length ? ` ${plan.errors.length} error(s): nothing would be applied.` : ''),
  );
  return `${lines.join('\n')}\n`;
}

function mdEscape(text: string): string {
  return text.replace(/[|<>]/g, (ch) => ({ '|': '\\|', '<': '&lt;', '>': '&gt;' })[ch] ?? ch);
}

function mdCode(text: string): string {
  // A backtick inside would end the span early: use a longer fence.
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A pull-request comment: summary table, deletions in bold, details folded, problems with file:line. */
export function renderMarkdown(plan: Plan): string {
  const out: string[] = [];
  const s = plan.summary;
  const src = plan.source;
  const short = src.commit?.slice(0, 7);
  // A ref that is the commit itself is shown once, short.
  const head = src.commit ? (src.ref && src.ref !== src.commit ? `${src.ref} (${short})` : `${short}`) : src.location;
  const base =
    plan.base.kind === 'ref'
      ? ` against ${plan.base.ref ?? ''}${plan.base.commit ? ` (${plan.base.commit.slice(0, 7)})` : ''}`
      : plan.base.kind === 'server'
        ? ' against live state'
        : '';
  out.push(`### Capstan plan: ${mdEscape(head.trim())}${mdEscape(base)}`);
  out.push('');
  const status = plan.errors.length ? `:x: ${plan.errors.length} error(s), nothing would be applied` : plan.changes.length ? ':white_check_mark: valid' : ':white_check_mark: no changes';
  out.push(`**${s.create}** to create, **${s.update}** to update, **${s.delete}** to delete, ${s.unchanged} unchanged — ${status}`);
  out.push('');
  if (plan.changes.length) {
    out.push('| | Kind | Object | Rollout | Defined in |');
    out.push('|---|---|---|---|---|');
    for (const c of plan.changes) {
      const name = mdEscape(`${c.namespace}/${c.name}`);
      const r =
        (c.rollout ? `${c.rollout.strategy}${c.rollout.scaleOnly ? ' (scale only)' : ''}${c.rollout.manualSteps ? ', manual promote' : ''}` : '') +
        (c.scheduling && !c.scheduling.fits ? ' — :x: **does not fit**' : '');
      const mark = c.action === 'create' ? '➕ create' : c.action === 'update' ? '✏️ update' : '**🗑️ DELETE**';
      const obj = c.action === 'delete' ? `**${name}**` : name;
      out.push(`| ${mark} | ${c.kind} | ${obj} | ${r} | ${c.file ? mdCode(`${c.file}${c.line ? `:${c.line}` : ''}`) : ''} |`);
    }
    out.push('');
  }
  const deletions = plan.changes.filter((c) => c.action === 'delete');
  if (deletions.length) {
    out.push(`> [!WARNING]`);
    out.push(`> This change **deletes ${deletions.length} object(s)**: ${deletions.map((c) => mdCode(`${c.kind} ${c.namespace}/${c.name}`)).join(', ')}`);
    out.push('');
  }
  for (const c of plan.changes) {
    const detail: string[] = [];
    if (c.action === 'update') {
      detail.push('```diff');
      for (const f of c.fields) {
        if (!('from' in f)) detail.push(`+ ${f.path}: ${shortValue(f.to, 200)}`);
        else if (!('to' in f)) detail.push(`- ${f.path}: ${shortValue(f.from, 200)}`);
        else detail.push(`- ${f.path}: ${shortValue(f.from, 200)}`, `+ ${f.path}: ${shortValue(f.to, 200)}`);
      }
      detail.push('```');
    }
    if (c.rollout) {
      const d = durationText(c.rollout.minDurationSeconds, c.rollout.manualSteps);
      detail.push(`Rollout: **${c.rollout.strategy}**${d ? `, ${d}` : ''}`);
      detail.push('');
      c.rollout.steps.forEach((step, i) => detail.push(`${i + 1}. ${mdEscape(step)}`));
    }
    if (c.scheduling) {
      if (detail.length) detail.push('');
      detail.push(`Scheduling: ${c.scheduling.fits ? ':white_check_mark:' : ':x:'} ${mdEscape(c.scheduling.summary)}`);
    }
    if (!detail.length) continue;
    out.push(`<details><summary>${c.action} ${mdEscape(`${c.kind} ${c.namespace}/${c.name}`)}</summary>`);
    out.push('');
    out.push(...detail);
    out.push('');
    out.push('</details>');
    out.push('');
  }
  if (plan.errors.length) {
    out.push('#### Errors');
    for (const e of plan.errors) out.push(`- ${mdCode(where(e))} ${mdEscape(e.message)}`);
    out.push('');
  }
  if (plan.warnings.length) {
    out.push('<details><summary>Warnings (' + plan.warnings.length + ')</summary>');
    out.push('');
    for (const w of plan.warnings) out.push(`- ${mdCode(where(w))} ${mdEscape(w.message)}`);
    out.push('');
    out.push('</details>');
    out.push('');
  }
  out.push('<!-- capstan-plan -->');
  return `${out.join('\n')}\n`;
}
