// Sink credentials from Secret objects in the store (the Notification's namespace). The values
// are handed to the sink call and to `scrub` only: never logged, put in events or in errors.
import { STORE_PREFIX } from '../api/cluster.js';
import type { NotificationSink, SecretKeySelector, SinkType } from '../api/index.js';
import { CapstanError } from '../common/index.js';
import type { KV } from '../store/index.js';

const decoder = new TextDecoder();

/** One key of a Secret, decoded; undefined when the Secret or the key does not exist. */
export async function readSecretKey(kv: KV, namespace: string, ref: SecretKeySelector): Promise<string | undefined> {
  const item = await kv.get(`${STORE_PREFIX.desired}Secret/${namespace}/${ref.name}`);
  if (!item) return undefined;
  let o: { stringData?: Record<string, string>; data?: Record<string, string> } | undefined;
  try {
    o = (JSON.parse(decoder.decode(item.value)) as { object?: typeof o }).object;
  } catch {
    return undefined;
  }
  const plain = o?.stringData?.[ref.key];
  if (typeof plain === 'string') return plain;
  const data = o?.data?.[ref.key];
  return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : undefined;
}

/** What a sink needs besides its spec: a URL, an HMAC key or a token. */
export interface SinkCredentials {
  url?: string;
  hmacKey?: string;
  token?: string;
}

export function sinkType(sink: NotificationSink): SinkType | undefined {
  for (const t of ['webhook', 'slack', 'github', 'gitlab', 'gitea'] as const) if (sink[t]) return t;
  return undefined;
}

/** The sink's credentials, read from their Secrets; a missing Secret or key is CAPSTAN_ERR_NOTIFY_SECRET (named, not shown). */
export async function sinkCredentials(kv: KV, namespace: string, sink: NotificationSink): Promise<SinkCredentials> {
  const need = async (ref: SecretKeySelector, what: string): Promise<string> => {
    const v = await readSecretKey(kv, namespace, ref);
    if (v === undefined || v === '') {
      throw new CapstanError('CAPSTAN_ERR_NOTIFY_SECRET', `${what}: no key "${ref.key}" in Secret ${namespace}/${ref.name}`, { context: { secret: ref.name, key: ref.key } });
    }
    return v;
  };
  if (sink.webhook) {
    const w = sink.webhook;
    return {
      url: w.urlFrom ? await need(w.urlFrom.secretKeyRef, 'webhook urlFrom') : w.url,
      ...(w.secretRef ? { hmacKey: await need(w.secretRef, 'webhook secretRef') } : {}),
    };
  }
  if (sink.slack) return { url: await need(sink.slack.urlFrom.secretKeyRef, 'slack urlFrom') };
  const forge = sink.github ?? sink.gitlab ?? sink.gitea;
  if (forge) return { token: await need(forge.tokenFrom.secretKeyRef, `${sinkType(sink)} tokenFrom`) };
  return {};
}

/** `text` with every secret value (and URL credentials) replaced: for events, logs and errors. */
export function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, '$1[redacted]@');
}
