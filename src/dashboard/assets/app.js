// The Capstan dashboard: preact + htm, no build step. Every request sends the API token the
// user signed in with (kept in sessionStorage) as `Authorization: Bearer`; live updates come
// from the API's watch streams read with fetch(), so the token never goes into a URL.
import { h, render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);
const TOKEN_KEY = 'capstan.token';
const CONTROL_ROLES = ['deployer', 'admin'];

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';

async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      cache: 'no-store',
      headers: { authorization: `Bearer ${token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'CAPSTAN_ERR_CLIENT_UNREACHABLE', 'the Capstan server does not answer');
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? '', json?.error?.message ?? `HTTP ${res.status}`);
  return json;
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/**
 * Follows `/api/v1/<resource>?watch=1` as Server-Sent Events over fetch (EventSource cannot
 * send the token), calling onEvent for each change; reconnects from the last event id.
 */
async function watch(resource, from, onEvent, signal) {
  let after = from ?? 0;
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch(`/api/v1/${resource}?watch=1&resourceVersion=${after}`, {
        headers: { authorization: `Bearer ${token()}`, accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (res.status === 410) after = 0; // compacted: list again (the first events are the objects)
      else if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      else {
        backoff = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type;
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('id:')) after = Number(line.slice(3).trim()) || after;
            }
            if (type === 'ERROR') after = 0;
            else if (type) onEvent(type);
          }
        }
      }
    } catch {
      if (signal.aborted) return;
    }
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 10_000);
  }
}

const short = (c) => (c ? c.slice(0, 7) : '');
const pct = (n, digits = 1) => (n === null || n === undefined ? '–' : `${Number(n).toFixed(digits)}%`);
const ms = (n) => (n === null || n === undefined ? '–' : `${n < 10 ? Number(n).toFixed(1) : Math.round(n)} ms`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

function phaseClass(phase) {
  switch (phase) {
    case 'Healthy':
    case 'Synced':
      return 'ok';
    case 'Degraded':
    case 'Invalid':
    case 'Failed':
    case 'SyncFailed':
      return 'bad';
    case 'Paused':
    case 'Suspended':
    case 'PruneHeld':
      return 'warn';
    default:
      return 'busy';
  }
}

const Badge = ({ value, kind }) => html`<span class=${`badge ${kind ?? phaseClass(value)}`}>${value}</span>`;

const planHref = (sha) => `#/commit/${encodeURIComponent(sha)}`;

/** A commit: with `plan`, a link to what the sync applied for it (and the forge beside it). */
function Commit({ sha, link, plan }) {
  if (!sha) return html`<span class="muted">none</span>`;
  if (plan) {
    return html`<span class="commit"><a class="sha" href=${planHref(sha)} data-commit=${sha} title=${`what ${short(sha)} changed`}>${short(sha)}</a>${link && html`<a class="forge" href=${link} rel="noreferrer" target="_blank" title="the commit on its forge">↗</a>`}</span>`;
  }
  return link ? html`<a class="sha" href=${link} rel="noreferrer" target="_blank" title=${sha}>${short(sha)}</a>` : html`<code class="sha" title=${sha}>${short(sha)}</code>`;
}

function Login({ onSignedIn, message }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState(message ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    sessionStorage.setItem(TOKEN_KEY, value.trim());
    try {
      onSignedIn(await api('/api/v1/whoami'));
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form onSubmit=${submit} class="card">
      <h1>Capstan</h1>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} placeholder="capstan_…" required />
      <p class="hint">An admin token is in <code>.capstan/admin.token</code>; create others with <code>POST /api/v1/tokens</code>. The token stays in this tab only.</p>
      <button type="submit" disabled=${busy || !value.trim()}>Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </form>
  </main>`;
}

function Problems({ errors }) {
  if (!errors || errors.length === 0) return null;
  return html`<ul class="problems">
    ${errors.map(
      (p) => html`<li class="problem">
        ${p.link ? html`<a class="where" href=${p.link} rel="noreferrer" target="_blank">${p.where}</a>` : html`<code class="where">${p.where}</code>`}
        <span class="msg">${p.message}</span> <span class="code">[${p.code}]</span>
      </li>`,
    )}
  </ul>`;
}

function SourcePanel({ source }) {
  const s = source;
  const refused = s.seenCommit && s.seenCommit !== s.syncedCommit && s.phase !== 'Synced';
  return html`<section class="card source" data-source=${s.name}>
    <header>
      <h2>Source <code>${s.location}${s.ref ? `@${s.ref}` : ''}</code></h2>
      <${Badge} value=${s.phase} />
    </header>
    <dl class="facts">
      <dt>Last synced commit</dt><dd><${Commit} sha=${s.syncedCommit} link=${s.syncedLink} plan /></dd>
      <dt>Last attempted commit</dt><dd><${Commit} sha=${s.seenCommit} link=${s.seenLink} />${refused ? html` <span class="bad-text">not applied</span>` : ''}</dd>
      ${s.summary && html`<dt>Changes applied</dt><dd class="summary">${s.summary.create} created, ${s.summary.update} updated, ${s.summary.delete} deleted, ${s.summary.unchanged} unchanged</dd>`}
      <dt>Checked</dt><dd>${when(s.at)} (${s.trigger})</dd>
    </dl>
    ${s.message && s.phase !== 'Synced' && s.errors.length === 0 && html`<p class="error">${s.message}</p>`}
    <${Problems} errors=${s.errors} />
  </section>`;
}

const appHref = (a) => `#/app/${encodeURIComponent(a.kind)}/${encodeURIComponent(a.namespace)}/${encodeURIComponent(a.name)}`;

function Overview({ data }) {
  return html`<div>
    ${data.sources.map((s) => html`<${SourcePanel} source=${s} />`)}
    <section class="card">
      <h2>Applications</h2>
      ${data.apps.length === 0
        ? html`<p class="muted">No workloads synced yet.</p>`
        : html`<table class="apps">
            <thead><tr><th>Kind</th><th>Name</th><th>Health</th><th>Sync</th><th>Ready</th><th>Strategy</th><th>Step</th><th>Commit</th><th>Message</th></tr></thead>
            <tbody>
              ${data.apps.map(
                (a) => html`<tr data-app=${`${a.namespace}/${a.name}`}>
                  <td>${a.kind}</td>
                  <td><a href=${appHref(a)}>${a.namespace}/${a.name}</a></td>
                  <td class="health"><${Badge} value=${a.phase} /></td>
                  <td class="sync"><${Badge} value=${a.sync} kind=${a.sync === 'Synced' ? 'ok' : 'busy'} /></td>
                  <td>${a.readyReplicas}/${a.replicas}</td>
                  <td>${a.strategy}</td>
                  <td>${a.stepCount ? `${Math.min((a.step ?? 0) + 1, a.stepCount)}/${a.stepCount}` : ''}</td>
                  <td><${Commit} sha=${a.syncedCommit} /></td>
                  <td class="message">${a.message}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>
  </div>`;
}

function Actions({ app, status, role, onDone }) {
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState('');
  if (!CONTROL_ROLES.includes(role)) return null;
  const run = async (action, body = {}) => {
    setBusy(action);
    setResult(null);
    try {
      const r = await api(`/api/v1/deployments/${encodeURIComponent(app.namespace)}/${encodeURIComponent(app.name)}/${action}`, { method: 'POST', body });
      setResult({ ok: true, text: `${action}: ${r?.message ?? 'done'}` });
      onDone();
    } catch (err) {
      setResult({ ok: false, text: `${action} failed: ${err.message}${err.status ? ` (HTTP ${err.status})` : ''}` });
    } finally {
      setBusy('');
    }
  };
  const rollout = app.kind === 'Deployment' || app.kind === 'Rollout';
  if (!rollout) return null;
  // Promote and abort steer a rollout in progress; a Healthy one has nothing to steer.
  const progressive = (status.strategy === 'Canary' || status.strategy === 'BlueGreen') && status.phase !== 'Healthy';
  return html`<div class="actions">
    ${progressive && html`<button data-action="promote" disabled=${busy !== ''} onClick=${() => run('promote')}>Promote</button>`}
    ${progressive && html`<button data-action="abort" class="danger" disabled=${busy !== ''} onClick=${() => run('abort')}>Abort</button>`}
    ${progressive && status.reason === 'RolloutAborted' && html`<button data-action="retry" disabled=${busy !== ''} onClick=${() => run('retry')}>Retry</button>`}
    <button data-action="rollback" disabled=${busy !== ''} onClick=${() => run('rollback')}>Roll back</button>
    ${result && html`<p class=${result.ok ? 'ok-text' : 'error'} role="alert">${result.text}</p>`}
  </div>`;
}

function Steps({ steps }) {
  if (!steps || steps.length === 0) return null;
  return html`<ol class="steps">
    ${steps.map((s) => html`<li class=${s.state} aria-current=${s.state === 'current' ? 'step' : undefined}>${s.text}</li>`)}
  </ol>`;
}

function Revisions({ revisions }) {
  // Traffic columns only for workloads a Service selects (the router's set and measured figures).
  const routed = revisions.some((r) => r.traffic.length > 0);
  return html`<table class="revisions">
    <thead><tr><th>Rev</th><th>Hash</th><th>Role</th><th>Ready</th><th>Commit</th>${routed && html`<th>Service</th><th>Set weight</th><th>Measured</th><th>Success</th><th>p99</th>`}</tr></thead>
    <tbody>
      ${revisions.flatMap((r) => {
        const traffic = r.traffic.length > 0 ? r.traffic : [null];
        return traffic.map(
          (t, i) => html`<tr class=${r.current ? 'current' : ''} data-revision=${r.hash}>
            ${i === 0 && html`<td rowspan=${traffic.length}>${r.revision}</td><td rowspan=${traffic.length}><code>${r.hash}</code></td><td rowspan=${traffic.length}>${r.role}</td><td rowspan=${traffic.length}>${r.readyReplicas}/${r.replicas}</td><td rowspan=${traffic.length}><${Commit} sha=${r.commit} /></td>`}
            ${routed &&
            html`<td>${t ? t.service : ''}</td>
              <td class="set-weight">${t ? `${t.setWeight}%` : ''}</td>
              <td class="measured">${t ? pct(t.actualWeight) : ''}</td>
              <td class="success">${t ? (t.successRate === null ? '–' : pct(t.successRate * 100, 2)) : ''}</td>
              <td class="p99">${t ? ms(t.p99) : ''}</td>`}
          </tr>`,
        );
      })}
    </tbody>
  </table>`;
}

function History({ history }) {
  if (!history || history.length === 0) return html`<p class="muted">No history yet.</p>`;
  return html`<ol class="timeline">
    ${history.map(
      (e) => html`<li data-revision=${e.revision}>
        <span class="rev">rev ${e.revision}</span>
        <${Badge} value=${e.outcome} kind=${e.outcome === 'Healthy' ? 'ok' : e.outcome === 'Degraded' || e.outcome === 'Aborted' ? 'bad' : 'busy'} />
        <span class="trigger">${e.trigger}</span>
        <${Commit} sha=${e.commit} plan />
        <span class="author">${(e.author ?? '').replace(/\s*<[^>]*>$/, '')}</span>
        <span class="muted">${when(e.createdAt)}</span>
        ${e.message && html`<span class="msg">${e.message}</span>`}
        ${!e.kept && html`<span class="muted">(template not kept)</span>`}
      </li>`,
    )}
  </ol>`;
}

const LOG_KEEP = 200_000; // characters of log kept on the page

/** A pod's log, followed: `GET …/pods/{pod}/log?follow=1` read as a stream with the token header. */
function LogPanel({ namespace, pod, onClose }) {
  const [text, setText] = useState('');
  const [state, setState] = useState('connecting');
  const pre = useRef(null);
  useEffect(() => {
    const stop = new AbortController();
    setText('');
    (async () => {
      try {
        const res = await fetch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?follow=1&tailLines=500`, {
          headers: { authorization: `Bearer ${token()}` },
          cache: 'no-store',
          signal: stop.signal,
        });
        if (!res.ok) {
          let message = `HTTP ${res.status}`;
          try {
            message = (await res.json())?.error?.message ?? message;
          } catch {}
          setState(`error: ${message}`);
          return;
        }
        setState('following');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          setText((t) => (t + value).slice(-LOG_KEEP));
        }
        setState('ended');
      } catch (err) {
        if (!stop.signal.aborted) setState(`error: ${err.message}`);
      }
    })();
    return () => stop.abort();
  }, [namespace, pod]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  return html`<section class="card logs" data-pod=${pod}>
    <header><h3>Logs of ${pod}</h3><span class="muted log-state">${state}</span><button onClick=${onClose}>Close</button></header>
    <pre ref=${pre} class="log">${text}</pre>
  </section>`;
}

function Pods({ revisions, onLogs }) {
  const pods = revisions.flatMap((r) => r.pods.map((p) => ({ ...p, revision: r.revision })));
  if (pods.length === 0) return html`<p class="muted">No pods.</p>`;
  return html`<table class="pods">
    <thead><tr><th>Pod</th><th>Revision</th><th>Node</th><th>Phase</th><th>Restarts</th><th></th></tr></thead>
    <tbody>
      ${pods.map((p) => html`<tr data-pod=${p.name}>
        <td><code>${p.name}</code></td><td>${p.revision}</td><td>${p.node ?? '–'}</td>
        <td>${p.phase}${p.ready ? ' (ready)' : ''}${p.message ? html` <span class="muted">${p.message}</span>` : ''}</td>
        <td>${p.restarts}</td>
        <td><button data-logs=${p.name} onClick=${() => onLogs(p.name)}>Logs</button></td>
      </tr>`)}
    </tbody>
  </table>`;
}

function Workload({ page, role, refresh }) {
  const { status: v, app, steps } = page;
  const [logsOf, setLogsOf] = useState(null);
  return html`<div>
    <p><a href="#/">← Applications</a></p>
    <section class="card workload" data-app=${`${app.namespace}/${app.name}`}>
      <header>
        <h2>${app.kind} ${app.namespace}/${app.name}</h2>
        <${Badge} value=${v.phase} />
        <${Badge} value=${app.sync} kind=${app.sync === 'Synced' ? 'ok' : 'busy'} />
      </header>
      ${v.message && html`<p class="message">${v.message}</p>`}
      <dl class="facts">
        <dt>Strategy</dt><dd class="strategy">${v.strategy}</dd>
        <dt>Revision</dt><dd>${v.revision} <${Commit} sha=${v.syncedCommit} /></dd>
        <dt>Ready</dt><dd class="ready">${v.readyReplicas > v.replicas ? `${v.readyReplicas} (${v.replicas} desired, ${v.readyReplicas - v.replicas} extra during the rollout)` : `${v.readyReplicas}/${v.replicas}`}, ${v.updatedReplicas} up to date</dd>
        ${app.file && html`<dt>Manifest</dt><dd><code>${app.file}${app.line ? `:${app.line}` : ''}</code></dd>`}
        ${v.stepCount !== undefined && html`<dt>Step</dt><dd class="step">${v.stepNumber}/${v.stepCount}</dd>`}
        ${v.stepCount !== undefined && html`<dt>Weight</dt><dd class="weight">set <b class="set">${v.setWeight ?? 0}%</b>, measured <b class="actual">${pct(v.actualWeight)}</b> <progress max="100" value=${v.setWeight ?? 0}></progress></dd>`}
      </dl>
      <${Actions} app=${app} status=${v} role=${role} onDone=${refresh} />
      <${Steps} steps=${steps} />
    </section>
    <section class="card">
      <h3>Revisions and traffic</h3>
      ${v.revisions.length > 0 ? html`<${Revisions} revisions=${v.revisions} />` : html`<p class="muted">No revisions.</p>`}
      ${v.services.length > 0 && html`<p class="muted">${v.services.map((s) => `${s.name} ${Array.isArray(s.address) ? s.address.join(', ') : s.address}${s.windowSeconds ? ` (measured over ${s.windowSeconds}s)` : ''}`).join('; ')}</p>`}
    </section>
    ${v.analysis.length > 0 &&
    html`<section class="card">
      <h3>Analysis</h3>
      <ul class="analysis">
        ${v.analysis.map((run) => html`<li><${Badge} value=${run.phase} kind=${run.phase === 'Successful' ? 'ok' : run.phase === 'Failed' || run.phase === 'Error' ? 'bad' : 'busy'} /> ${run.key} (${run.templates.join(', ')}) ${run.message ?? ''}
          <ul>${run.metrics.map((m) => html`<li>${m.name}: ${m.phase}, ${m.measurements} measured, ${m.failed} failed, last ${JSON.stringify(m.lastValue ?? null)}</li>`)}</ul>
        </li>`)}
      </ul>
    </section>`}
    <section class="card">
      <h3>Pods</h3>
      <${Pods} revisions=${v.revisions} onLogs=${setLogsOf} />
    </section>
    ${logsOf && html`<${LogPanel} key=${logsOf} namespace=${app.namespace} pod=${logsOf} onClose=${() => setLogsOf(null)} />`}
    <section class="card">
      <h3>History</h3>
      <${History} history=${page.history} />
    </section>
    ${page.source && html`<${SourcePanel} source=${page.source} />`}
  </div>`;
}

const ACTION_CLASS = { create: 'ok', update: 'busy', delete: 'bad' };
const authorName = (a) => (a ?? '').replace(/\s*<[^>]*>$/, '');

function FieldValue({ value }) {
  return value === undefined ? html`<span class="muted">(none)</span>` : html`<code>${value}</code>`;
}

function PlanObject({ object: o }) {
  const where = o.file ? `${o.file}${o.line ? `:${o.line}` : ''}` : '';
  return html`<section class="card plan-object" data-object=${`${o.kind}/${o.namespace}/${o.name}`}>
    <header>
      <h3>${o.kind} ${o.namespace}/${o.name}</h3>
      <${Badge} value=${o.action} kind=${ACTION_CLASS[o.action] ?? 'busy'} />
      ${where && (o.link ? html`<a class="where" href=${o.link} rel="noreferrer" target="_blank">${where}</a>` : html`<code class="where muted">${where}</code>`)}
      ${o.release && html`<span class="muted">release ${o.release}</span>`}
    </header>
    ${o.fields.length === 0
      ? html`<p class="muted">No field listed.</p>`
      : html`<table class="fields">
          <thead><tr><th>Field</th><th>Before</th><th></th><th>After</th></tr></thead>
          <tbody>
            ${o.fields.map(
              (f) => html`<tr data-path=${f.path} class=${f.sensitive ? 'sensitive' : ''}>
                <td class="path"><code>${f.path}</code></td>
                <td class="before"><${FieldValue} value=${f.before} /></td>
                <td class="arrow">→</td>
                <td class="after"><${FieldValue} value=${f.after} /></td>
              </tr>`,
            )}
          </tbody>
        </table>`}
    ${o.fieldsOmitted > 0 && html`<p class="muted">${o.fieldsOmitted} more changed field(s) not kept.</p>`}
  </section>`;
}

/** What the sync applied for one commit: `GET /api/v1/dashboard/commits/{commit}`, read once. */
function CommitPlan({ sha, onAuthError }) {
  const [state, setState] = useState({});
  useEffect(() => {
    let current = true;
    setState({});
    api(`/api/v1/dashboard/commits/${encodeURIComponent(sha)}`).then(
      (data) => current && setState({ data }),
      (err) => {
        if (!current) return;
        if (err.status === 401) onAuthError(err.message);
        else setState({ error: err.message });
      },
    );
    return () => {
      current = false;
    };
  }, [sha]);
  const back = html`<p><a href="#/">← Applications</a></p>`;
  if (state.error) return html`<div>${back}<p class="error" role="alert">${state.error}</p></div>`;
  const d = state.data;
  if (!d) return html`<div>${back}<p class="muted">Loading…</p></div>`;
  const sum = d.summary;
  return html`<div>
    ${back}
    <section class="card plan" data-commit=${d.commit}>
      <header>
        <h2>Commit <code title=${d.commit}>${short(d.commit)}</code></h2>
        ${d.link && html`<a class="forge" href=${d.link} rel="noreferrer" target="_blank">on the forge ↗</a>`}
      </header>
      ${d.message && html`<p class="message">${d.message}</p>`}
      <dl class="facts">
        <dt>Commit</dt><dd><code>${d.commit}</code></dd>
        ${d.author && html`<dt>Author</dt><dd class="author">${authorName(d.author)}</dd>`}
        <dt>Applied</dt><dd>${when(d.at)}</dd>
        <dt>Source</dt><dd><code>${d.location}${d.ref ? `@${d.ref}` : ''}</code></dd>
        <dt>Synced before</dt><dd><${Commit} sha=${d.previousCommit} link=${d.previousLink} plan /></dd>
        ${sum && html`<dt>Changes applied</dt><dd class="summary">${sum.create} created, ${sum.update} updated, ${sum.delete} deleted, ${sum.unchanged} unchanged</dd>`}
      </dl>
      ${d.truncated &&
      html`<p class="warn-text">Only part of the plan is kept (${d.objects.length} of ${d.changedObjects} changed objects, some fields may be left out); <code>capstan plan ${d.location} --ref ${short(d.commit)}${d.previousCommit ? ` --base ${short(d.previousCommit)}` : ''}</code> shows it whole.</p>`}
      ${d.objects.length === 0 && html`<p class="muted">This commit changed no object.</p>`}
    </section>
    ${d.objects.map((o) => html`<${PlanObject} key=${`${o.kind}/${o.namespace}/${o.name}`} object=${o} />`)}
  </div>`;
}

function parseCommitRoute(hash) {
  const m = /^#\/commit\/([0-9A-Fa-f]+)$/.exec(hash);
  return m ? m[1] : null;
}

function parseRoute(hash) {
  const m = /^#\/app\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(hash);
  return m ? { kind: decodeURIComponent(m[1]), namespace: decodeURIComponent(m[2]), name: decodeURIComponent(m[3]) } : null;
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** Re-reads `path` now, on every watched change (coalesced) and every 10 s. */
function useLive(path, onAuthError) {
  const [data, setData] = useState(null);
  const [error, setError] = useState('');
  const [live, setLive] = useState(false);
  const version = useRef(0);
  const timer = useRef(null);
  const load = useCallback(async () => {
    const mine = ++version.current;
    try {
      const d = await api(path);
      if (mine !== version.current) return;
      setData({ path, d });
      setError('');
      return d;
    } catch (err) {
      if (err.status === 401) onAuthError(err.message);
      else setError(err.message);
    }
  }, [path]);
  useEffect(() => {
    const stop = new AbortController();
    const soon = () => {
      if (timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        void load();
      }, 250);
    };
    void load().then((d) => {
      if (stop.signal.aborted) return;
      setLive(true);
      for (const r of ['deployments', 'services', 'sources']) void watch(r, d?.resourceVersion, soon, stop.signal);
    });
    const poll = setInterval(soon, 10_000);
    return () => {
      stop.abort();
      clearInterval(poll);
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
      setLive(false);
    };
  }, [path]);
  // Data read for another path (the page before a navigation) is not shown.
  return { data: data?.path === path ? data.d : null, error, live, reload: load };
}

/** The overview or one workload, re-read live; tells the header whether the watches run. */
function LiveView({ hash, role, onAuthError, onLive }) {
  const route = parseRoute(hash);
  const path = route ? `/api/v1/dashboard/${encodeURIComponent(route.namespace)}/${encodeURIComponent(route.name)}?kind=${encodeURIComponent(route.kind)}` : '/api/v1/dashboard';
  const { data, error, live, reload } = useLive(path, onAuthError);
  useEffect(() => onLive(live), [live]);
  useEffect(() => () => onLive(false), []);
  return html`<div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!data ? html`<p class="muted">Loading…</p>` : route ? html`<${Workload} page=${data} role=${role} refresh=${reload} />` : html`<${Overview} data=${data} />`}
  </div>`;
}

function Dashboard({ who, onSignOut }) {
  const hash = useHash();
  const commit = parseCommitRoute(hash);
  const [live, setLive] = useState(false);
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/">Capstan</a>
      ${!commit && html`<span class=${`live ${live ? 'on' : ''}`} title="live updates from the API's watch streams">${live ? 'live' : 'connecting'}</span>`}
      <span class="who">${who.user} <span class="role" data-role=${who.role}>${who.role}</span></span>
      <button class="link" onClick=${() => onSignOut('')}>Sign out</button>
    </header>
    <main>
      ${commit ? html`<${CommitPlan} key=${commit} sha=${commit} onAuthError=${onSignOut} />` : html`<${LiveView} hash=${hash} role=${who.role} onAuthError=${onSignOut} onLive=${setLive} />`}
    </main>
  </div>`;
}

function App() {
  const [who, setWho] = useState(null);
  const [checking, setChecking] = useState(token() !== '');
  const [message, setMessage] = useState('');
  useEffect(() => {
    if (!token()) return;
    api('/api/v1/whoami')
      .then(setWho, (err) => {
        sessionStorage.removeItem(TOKEN_KEY);
        setMessage(err.message);
      })
      .finally(() => setChecking(false));
  }, []);
  const signOut = (why) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setWho(null);
    setMessage(why);
  };
  if (checking) return html`<p class="muted">Loading…</p>`;
  return who ? html`<${Dashboard} who=${who} onSignOut=${signOut} />` : html`<${Login} onSignedIn=${setWho} message=${message} />`;
}

render(html`<${App} />`, document.getElementById('app'));
