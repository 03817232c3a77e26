// capstan.dev/v1 Notification: which happenings (triggers) of which workloads are told to
// which sinks (a generic webhook, Slack, or a forge's commit statuses), with a liquid template.

import { Liquid } from 'liquidjs';
import { parseCondition } from '../analysis/expression.js';
import type { Report } from './checks.js';
import { arr, labels, nonEmpty, obj, oneOfValues, str, topLevel } from './schema-util.js';
import type { Schema } from './schema-util.js';
import type { ManifestObject } from './types.js';

/** Every trigger a Notification may list. */
export const NOTIFICATION_TRIGGERS = [
  'sync-succeeded',
  'sync-failed',
  'rollout-started',
  'step',
  'paused',
  'promoted',
  'aborted',
  'degraded',
  'healthy',
  'rolled-back',
  // A pull request against the followed branch: its plan, as a comment on forges.
  'plan',
] as const;

export type NotificationTrigger = (typeof NOTIFICATION_TRIGGERS)[number];

/** A key of a Secret in the Notification's namespace. */
export interface SecretKeySelector {
  name: string;
  key: string;
}

export interface ValueFrom {
  secretKeyRef: SecretKeySelector;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface WebhookSink {
  url?: string;
  urlFrom?: ValueFrom;
  /** The HMAC key: each POST carries `X-Capstan-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  secretRef?: SecretKeySelector;
}

export interface SlackSink {
  /** The incoming-webhook URL (a secret: it is the credential). */
  urlFrom: ValueFrom;
}

export interface GitHubSink {
  owner: string;
  repo: string;
  tokenFrom: ValueFrom;
  baseUrl?: string;
}

export interface GitLabSink {
  /** Numeric id or `group/project` path. */
  project: string;
  tokenFrom: ValueFrom;
  baseUrl?: string;
}

export interface GiteaSink {
  owner: string;
  repo: string;
  tokenFrom: ValueFrom;
  baseUrl: string;
}

/** Exactly one field set. */
export interface NotificationSink {
  webhook?: WebhookSink;
  slack?: SlackSink;
  github?: GitHubSink;
  gitlab?: GitLabSink;
  gitea?: GiteaSink;
}

export type SinkType = keyof NotificationSink;
export const SINK_TYPES: readonly SinkType[] = ['webhook', 'slack', 'github', 'gitlab', 'gitea'];

export interface Notification extends ManifestObject {
  apiVersion: 'capstan.dev/v1';
  kind: 'Notification';
  spec: {
    triggers: NotificationTrigger[];
    /** Which workloads (by their labels); absent: every workload in the namespace. */
    selector?: LabelSelector;
    /** A condition in the analysis condition language, over `result` (the happening's fields). */
    when?: string;
    template?: { title?: string; body?: string };
    sinks: NotificationSink[];
  };
}

function valueFrom(): Schema {
  return obj({ secretKeyRef: obj({ name: nonEmpty(), key: nonEmpty() }, ['name', 'key']) }, ['secretKeyRef']);
}

function url(): Schema {
  return nonEmpty({ pattern: '^https?://', hint: 'an http:// or https:// URL' });
}

export function notificationSchema(): Schema {
  const sink = obj({
    webhook: obj({ url: url(), urlFrom: valueFrom(), secretRef: obj({ name: nonEmpty(), key: nonEmpty() }, ['name', 'key']) }),
    slack: obj({ urlFrom: valueFrom() }, ['urlFrom']),
    github: obj({ owner: nonEmpty(), repo: nonEmpty(), tokenFrom: valueFrom(), baseUrl: url() }, ['owner', 'repo', 'tokenFrom']),
    gitlab: obj({ project: nonEmpty(), tokenFrom: valueFrom(), baseUrl: url() }, ['project', 'tokenFrom']),
    gitea: obj({ owner: nonEmpty(), repo: nonEmpty(), tokenFrom: valueFrom(), baseUrl: url() }, ['owner', 'repo', 'tokenFrom', 'baseUrl']),
  });
  const requirement = obj(
    { key: nonEmpty(), operator: oneOfValues(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: arr(str()) },
    ['key', 'operator'],
  );
  return topLevel(
    {
      spec: obj(
        {
          triggers: arr(oneOfValues([...NOTIFICATION_TRIGGERS]), { minItems: 1 }),
          selector: obj({ matchLabels: labels(), matchExpressions: arr(requirement) }),
          when: nonEmpty(),
          template: obj({ title: str(), body: str() }),
          sinks: arr(sink, { minItems: 1 }),
        },
        ['triggers', 'sinks'],
      ),
    },
    ['spec'],
  );
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parsing only: no file system, no partials (`include`/`render` fail). */
const checker = new Liquid({ strictFilters: true, ownPropertyOnly: true, parseLimit: 64 * 1024 });

/** What the schema cannot say: one sink type per entry, a webhook URL, `when` and the templates parse. */
export function checkNotification(o: Obj, report: Report): void {
  const spec = o.spec;
  if (!isObj(spec)) return;
  const sinks = Array.isArray(spec.sinks) ? spec.sinks : [];
  sinks.forEach((s: unknown, i: number) => {
    if (!isObj(s)) return;
    const set = Object.keys(s).filter((k) => (SINK_TYPES as readonly string[]).includes(k));
    if (set.length !== 1) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.sinks[${i}] must set exactly one of ${SINK_TYPES.join(', ')}${set.length > 1 ? `, got ${set.join(' and ')}` : ''}`, ['spec', 'sinks', i]);
    }
    const hook = s.webhook;
    if (isObj(hook) && (hook.url === undefined) === (hook.urlFrom === undefined)) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.sinks[${i}].webhook must set one of url or urlFrom`, ['spec', 'sinks', i, 'webhook']);
    }
    if (isObj(hook) && typeof hook.url === 'string' && /^[a-z]+:\/\/[^/@]*@/i.test(hook.url)) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.sinks[${i}].webhook.url carries credentials; put the URL in a Secret and use urlFrom`, ['spec', 'sinks', i, 'webhook', 'url']);
    }
  });
  if (typeof spec.when === 'string') {
    try {
      parseCondition(spec.when);
    } catch (err) {
      report('CAPSTAN_ERR_API_SCHEMA', `spec.when: ${err instanceof Error ? err.message : String(err)}`, ['spec', 'when']);
    }
  }
  const template = spec.template;
  if (isObj(template)) {
    for (const field of ['title', 'body']) {
      const t = template[field];
      if (typeof t !== 'string') continue;
      try {
        checker.parse(t);
      } catch (err) {
        const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
        report('CAPSTAN_ERR_API_SCHEMA', `spec.template.${field} is not a valid template: ${first}`, ['spec', 'template', field]);
      }
    }
  }
}
