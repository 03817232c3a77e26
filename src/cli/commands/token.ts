// `capstan token create|list|revoke`: API tokens for people (viewer, deployer, admin) and for
// node agents (bound to one node), made by an admin. The secret is printed once; the store
// keeps only its sha256, which is the id `list` shows and `revoke` takes (a unique prefix will do).
import { CapstanError } from '../../common/errors.js';
import { formatJoinToken } from '../../pki/index.js';
import { connect, type ConnectionOptions } from '../api-client.js';
import type { CliIO } from '../io.js';
import { table } from '../table.js';

export interface TokenOptions extends ConnectionOptions {
  output?: 'text' | 'json';
}

export interface CreateOptions extends TokenOptions {
  role: string;
  user?: string;
  node?: string;
  /** Seconds. */
  ttl?: number;
}

interface TokenItem {
  id: string;
  role: string;
  user: string;
  node?: string;
  createdAt: string;
  expiresAt?: string;
}

/** Who a token is for when --user is not given: the node for an agent, else the role. */
function defaultUser(opts: CreateOptions): string {
  return opts.role === 'agent' && opts.node ? `agent-${opts.node}` : opts.role;
}

export async function runTokenCreate(io: CliIO, opts: CreateOptions): Promise<void> {
  if (opts.role === 'agent' && !opts.node) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', 'an agent token is bound to one node: add --node NAME');
  if (opts.role !== 'agent' && opts.node) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', '--node is for agent tokens only');
  const api = connect(io, opts);
  const created = await api.post<TokenItem & { token: string }>('/api/v1/tokens', {
    role: opts.role,
    user: opts.user ?? defaultUser(opts),
    ...(opts.node ? { node: opts.node } : {}),
    ...(opts.ttl !== undefined ? { ttlSeconds: opts.ttl } : {}),
  });
  // An agent token goes out as a join token: the token with the cluster CA's fingerprint, so
  // the node's first contact checks it is talking to this cluster.
  const joinToken = created.role === 'agent' ? await caFingerprint(api).then((fp) => (fp ? formatJoinToken({ caFingerprint: fp, token: created.token }) : undefined)) : undefined;
  if (opts.output === 'json') return void io.out(`${JSON.stringify({ ...created, ...(joinToken ? { joinToken } : {}) }, null, 2)}\n`);
  io.out(`${joinToken ?? created.token}\n`);
  const expiry = created.expiresAt ? `, expires ${created.expiresAt}` : '';
  io.err(`token ${created.id.slice(0, 12)} for ${created.user} (${created.role}${created.node ? ` on node ${created.node}` : ''})${expiry}; it is shown only this once\n`);
  if (created.role === 'agent') io.err(`on node ${created.node}: capstan join ${api.server} --token <the token>\n`);
}

/** The cluster CA's fingerprint, or undefined from a server that does not serve it. */
async function caFingerprint(api: ReturnType<typeof connect>): Promise<string | undefined> {
  try {
    return (await api.get<{ fingerprint?: string }>('/api/v1/pki/ca')).fingerprint;
  } catch {
    return undefined;
  }
}

export async function runTokenList(io: CliIO, opts: TokenOptions): Promise<void> {
  const items = (await connect(io, opts).get<{ items?: TokenItem[] }>('/api/v1/tokens')).items ?? [];
  const now = Date.now();
  const rows = items
    .map((t) => ({ ...t, expired: t.expiresAt !== undefined && !(Date.parse(t.expiresAt) > now) }))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  if (opts.output === 'json') return void io.out(`${JSON.stringify(rows, null, 2)}\n`);
  if (rows.length === 0) return void io.out('No tokens.\n');
  io.out(table(['ID', 'ROLE', 'USER', 'NODE', 'CREATED', 'EXPIRES'], rows.map((t) => [t.id.slice(0, 12), t.role, t.user, t.node ?? '', t.createdAt, t.expiresAt ? `${t.expiresAt}${t.expired ? ' (expired)' : ''}` : 'never'])));
}

export async function runTokenRevoke(io: CliIO, id: string, opts: TokenOptions): Promise<void> {
  const api = connect(io, opts);
  let full = id;
  if (!/^[0-9a-f]{64}$/.test(id)) {
    if (!/^[0-9a-f]{4,63}$/.test(id)) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `"${id}" is not a token id: give the ID column of \`capstan token list\` (at least 4 hex digits)`);
    const matches = ((await api.get<{ items?: TokenItem[] }>('/api/v1/tokens')).items ?? []).filter((t) => t.id.startsWith(id));
    if (matches.length === 0) throw new CapstanError('CAPSTAN_ERR_CLIENT_REQUEST', `no token id starts with ${id}`);
    if (matches.length > 1) throw new CapstanError('CAPSTAN_ERR_CLI_USAGE', `${matches.length} token ids start with ${id}; give more digits`);
    full = matches[0]!.id;
  }
  const r = await api.delete<{ revoked: string }>(`/api/v1/tokens/${full}`);
  if (opts.output === 'json') return void io.out(`${JSON.stringify(r)}\n`);
  io.out(`token ${full.slice(0, 12)} revoked\n`);
}
