import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CapstanError, formatDiagnostic } from '../common/errors.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ExitRequest, processIO, type CliIO } from './io.js';
import { VERSION } from './version.js';
import { registerChartCommands } from './commands/chart-command.js';

// Command implementations are imported when a command runs, so `capstan --help` stays fast.

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number, got "${value}"`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** A byte size such as `100MiB`, `100MB`, `512k` or `1048576`. */
function byteSize(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a size such as 100MiB, 500MB or 1048576, got "${value}"`);
  return n;
}

function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive whole number, got "${value}"`);
  return n;
}

/** `--router-workers`: how many processes serve the router's HTTP Service ports (1..64). */
export function routerWorkers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`--router-workers takes a whole number from 1 to 64, got "${value}"`);
  return n;
}

function outputOption(choices: string[], fallback = 'text'): Option {
  return new Option('-o, --output <format>', 'output format').choices(choices).default(fallback);
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('capstan');
  program
    .description('GitOps control plane for containers on plain Docker hosts')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--debug', 'print stack traces for errors')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();

  program
    .command('validate')
    .description('check manifests and charts; every problem on stderr as file:line:col: message')
    .argument('<paths...>', 'files or folders of manifests (a Git work tree is read as it is on disk)')
    .option('--strict', 'treat warnings as errors')
    .option('--allow-unknown-fields', 'a field under spec that no Kubernetes object has (a typo) is a warning, not an error')
    .option('--max-replicas <n>', 'most pods one workload may ask for (default 1000)', (v) => positiveInteger(v, '--max-replicas'))
    .addOption(outputOption(['text', 'json']))
    .addHelpText(
      'after',
      `
Exit codes: 0 valid, 1 invalid.

Examples:
  $ capstan validate examples-repo
  $ capstan validate apps/web.yaml apps/api.yaml
  $ capstan validate --strict -o json manifests/`,
    )
    .action(async (paths: string[], opts) => {
      const { runValidate } = await import('./commands/validate.js');
      return runValidate(io, paths, opts);
    });

  program
    .command('plan')
    .description('show what SOURCE at REF would change: against nothing, another ref, or live state')
    .argument('[source]', 'a folder, a local Git repository, or an http(s) Git URL', 'examples-repo')
    .option('--ref <ref>', 'branch, tag or commit to plan (Git sources; default HEAD)')
    .option('--base <ref>', 'compare with the same source at this ref (pull-request review)')
    .option('--server <url>', 'compare with live state on a Capstan server')
    .option('--token <token>', 'API token for --server (env CAPSTAN_TOKEN)')
    .option('--data-dir <dir>', 'where remote repositories are cached', '.capstan')
    .option('--path <dir...>', 'only read manifests under these folders of the source')
    .option('--git-timeout <seconds>', 'give up on a remote that does not answer (default 30)', (v) => positiveNumber(v, '--git-timeout'))
    .option('--detailed-exitcode', 'exit 0 when nothing changes, 1 on error, 2 when there are changes')
    .option('--max-replicas <n>', 'most pods one workload may ask for (default 1000)', (v) => positiveInteger(v, '--max-replicas'))
    .option('--allow-unknown-fields', 'a field under spec that no Kubernetes object has (a typo) is a warning, not an error')
    .addOption(outputOption(['text', 'json', 'markdown']))
    .addHelpText(
      'after',
      `
Exit codes: 0 success, 1 invalid manifests or error; with --detailed-exitcode 0 no changes,
1 error, 2 changes.

Examples:
  $ capstan plan examples-repo
  $ capstan plan . --base main --ref feature -o markdown     # pull-request review
  $ capstan plan https://git.example.com/team/deploy.git --ref main -o json`,
    )
    .action(async (source: string, opts) => {
      const { runPlan } = await import('./commands/plan.js');
      return runPlan(io, source, opts);
    });

  registerChartCommands(program, io);
  registerClusterCommands(program, io);
  registerRunCommands(program, io);
  registerMembersCommand(program, io); // [raft]
  registerNodeCommands(program, io);
  registerTokenCommands(program, io);
  return program;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a port number, got "${value}"`);
  return n;
}

function runOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where the store, tokens, caches and logs live', '.capstan')
    .option('--port <port>', 'API port', port, 7480)
    .option('--host <address>', 'address to listen on (off loopback the API is HTTPS with the cluster CA)', '127.0.0.1')
    .option('--tls', 'serve the API over HTTPS on loopback too')
    .option('--insecure-http', 'serve plain HTTP off loopback: tokens and Secrets cross the network in clear text (warned)')
    .option('--tls-san <names>', 'more host names or addresses for the server certificate, comma-separated')
    .option('--branch <branch>', 'branch to follow (Git sources; default: HEAD)')
    .option('--sync-schedule <cron>', 'how often to poll Git (cron, default every minute)')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .option('--log-file <file>', 'where logs go (default <data-dir>/capstan.log; - for stderr)')
    .option('--no-router', 'do not run the service router (Service ports on --router-address)')
    .option('--router-address <address>', 'address the service router listens on', '127.0.0.1')
    .option('--ingress-port <port>', 'port the router serves Ingress rules on (HTTP, while an Ingress exists)', port, 8080)
    .option('--ingress-https-port <port>', 'port the router serves Ingress TLS on (while an Ingress has tls)', port, 8443)
    .option('--node-port-addresses <a,b>', 'addresses NodePort and LoadBalancer Services are served on (default: --router-address)')
    .option('--router-workers <n>', 'worker processes that serve the router\'s HTTP Service ports (1-64; default 1: this process serves them)', routerWorkers)
    .option('--no-status-write', 'do not commit capstan.dev/* status annotations back to Git')
    .option('--status-branch <branch>', 'commit status annotations to this branch instead of the synced one')
    .option('--webhook-secret-file <file>', 'secret for POST /api/v1/webhooks/git (else env CAPSTAN_WEBHOOK_SECRET)')
    .option('--git-anonymous-read', 'let anyone who reaches the port clone the served repository without a token (Secrets included)')
    .option('--max-replicas <n>', 'most pods one workload may ask for; a commit over it is refused whole (default 1000)', (v) => positiveInteger(v, '--max-replicas'))
    .option('--allow-unknown-fields', 'a field under spec that no Kubernetes object has (a typo such as replcas) warns instead of refusing the commit')
    .option('--max-push-size <size>', 'largest push the served repository accepts (default 100MiB)', (v) => byteSize(v, '--max-push-size'))
    .option('--hpa-sync-period <seconds>', 'how often each HorizontalPodAutoscaler is looked at (default 15)', (v) => positiveNumber(v, '--hpa-sync-period'))
    .option('--scheduler-config <file>', 'YAML or JSON file with the scheduler\'s scoringStrategy (LeastAllocated, the default; MostAllocated; RequestedToCapacityRatio)')
    .option('--max-connections <n>', 'open API connections in all (default: from the open-files limit, at most 16384)', (v) => positiveInteger(v, '--max-connections'))
    .option('--max-pending-per-address <n>', 'API connections per client address that have not sent a complete request yet (default 256)', (v) =>
      positiveInteger(v, '--max-pending-per-address'),
    );
}

function registerRunCommands(program: Command, io: CliIO): void {
  const up = runOptions(program.command('up'))
    .description('everything in one process: store, API server, controllers, scheduler and a local node agent')
    .argument('[source]', 'folder, local Git repository or http(s) Git URL with the manifests', 'examples-repo')
    .addOption(new Option('--runtime <runtime>', 'how pods run: docker when a daemon answers, else processes').choices(['auto', 'process', 'docker']).default('auto'))
    .option('--allow-privileged', 'the local agent runs containers with securityContext.privileged (refused by default)');
  nodeNetworkOptions(up, '--router-address')
    .addHelpText('after', '\nExamples:\n  $ capstan up                          # examples-repo/, Docker if it answers\n  $ capstan up ../deploy --branch main --runtime process')
    .action(async (source: string, opts) => (await import('./commands/up.js')).runUp(io, source, opts));

  runOptions(program.command('server'))
    .description('the control plane alone; nodes join with `capstan agent`')
    .option('--source <source>', 'folder, local Git repository or http(s) Git URL', 'examples-repo')
    .addOption(new Option('--store <store>', 'where state lives').choices(['embedded', 'etcd']).default('embedded'))
    .option('--etcd-endpoints <urls>', 'etcd client URLs, comma-separated (with --store etcd)')
    .option('--etcd-prefix <prefix>', 'key prefix in etcd', '/capstan-data')
    .option('--eviction-timeout <seconds>', 'how long a NotReady node keeps its pods before they move (default 60)', (v) => positiveNumber(v, '--eviction-timeout'))
    .option('--node-lease <seconds>', 'how long a node stays Ready without a heartbeat (default 40)', (v) => positiveNumber(v, '--node-lease'))
    // [raft] a Raft group of members, each running `capstan server` with the same --peers.
    .option('--peers <name=url,...>', 'every member of a Raft group with its peer URL (same list on every member); https:// peers use mutual TLS with the shared CA in <data-dir>/pki; http:// only on loopback or with --insecure-http')
    .option('--name <name>', 'this member\'s name in --peers')
    .option('--peer-listen <host:port>', 'where this member listens for its peers (default: its URL in --peers)')
    .option('--cluster-token-file <file>', 'shared secret the members present to each other (same content on every member)')
    .option('--cluster-name <name>', 'mixed into a new group\'s cluster id, so two groups never mix', 'capstan')
    .option('--heartbeat-interval <ms>', 'Raft heartbeat interval (default 50)', (v) => positiveNumber(v, '--heartbeat-interval'))
    .option('--election-timeout <ms>', 'Raft election timeout, randomised up to twice (default 500)', (v) => positiveNumber(v, '--election-timeout'))
    .option('--join', 'join an existing group (after `capstan members add`) instead of starting a new one')
    .option('--cluster-id <id>', 'with --join: the id of the group, as `capstan members add` prints it')
    .addHelpText(
      'after',
      `
A Raft group of three members on one machine (each in its own shell; the API ports differ):
  $ head -c 32 /dev/urandom | base64 > cluster.token
  $ PEERS=a=http://127.0.0.1:7581,b=http://127.0.0.1:7582,c=http://127.0.0.1:7583
  $ capstan server --name a --peers $PEERS --cluster-token-file cluster.token --port 7480 --data-dir .capstan-a
  $ capstan server --name b --peers $PEERS --cluster-token-file cluster.token --port 7490 --data-dir .capstan-b
  $ capstan server --name c --peers $PEERS --cluster-token-file cluster.token --port 7500 --data-dir .capstan-c
Every member serves the API; controllers, the scheduler, the sync loop, the router and the
status writer run on the member holding the controller lease.`,
    )
    .action(async (opts) => (await import('./commands/up.js')).runServer(io, opts));

  const agent = program
    .command('agent')
    .description('run one node: register it, run the pods bound to it, report their status')
    .option('--server <url>', 'Capstan API server (env CAPSTAN_SERVER)')
    .option('--token <token>', 'an agent token bound to this node (env CAPSTAN_TOKEN)')
    .option('--ca <file>', 'the cluster CA to trust for an https server (env CAPSTAN_CA; default <state-dir>/pki/ca.crt)')
    .option('--name <node>', 'the node name')
    .option('--runtime <runtime>', 'auto | process | docker', 'auto')
    .option('--labels <k=v,...>', 'node labels')
    .option('--capacity <cpu=N,memory=M>', 'what the node offers (default: the machine); cpu or memory above the machine\'s is refused without --allow-overcommit')
    .option('--allow-overcommit', 'accept a --capacity above the machine\'s cores or memory (the server cannot check the machine)')
    .option('--allow-privileged', 'run containers with securityContext.privileged (refused by default); the node reports allowPrivileged: true')
    .option('--state-dir <dir>', 'where the agent keeps its files', '.capstan-agent')
    .option('--listen <host:port>', 'the agent port the server calls for logs and exec (default 127.0.0.1 and a free port)')
    .option('--address <ip>', "this node's address, reported for it and its pods: other nodes' routers reach its pods there (default 127.0.0.1)")
    .option('--external-address <ip>', "where this node serves LoadBalancer Services (default the node's address)")
    .option('--no-service-router', "run no Service router on this node (by default every node serves every Service: the routing mesh)")
    .option('--heartbeat <seconds>', 'how often the node reports to the server (default 10; keep it well under the server\'s --node-lease)', (v) => positiveNumber(v, '--heartbeat'));
  nodeNetworkOptions(agent).action(async (opts) => (await import('./commands/agent.js')).runAgentCommand(io, opts));

  const join = program
    .command('join')
    .description('join this machine to a cluster as a node: verify the server by the CA in the join token, get a node certificate, run the agent')
    .argument('<url>', "the server's URL, e.g. https://cp-1:7480 (several, comma-separated, for a Raft group)")
    .option('--token <join-token>', 'CAPSTAN-1-… from `capstan token create --role agent --node NAME` (env CAPSTAN_JOIN_TOKEN)')
    .option('--name <node>', 'the node name (default: the node the token is bound to)')
    .option('--runtime <runtime>', 'auto | process | docker', 'auto')
    .option('--labels <k=v,...>', 'node labels')
    .option('--capacity <cpu=N,memory=M>', 'what the node offers (default: the machine)')
    .option('--allow-overcommit', 'accept a --capacity above the machine\'s cores or memory')
    .option('--allow-privileged', 'run containers with securityContext.privileged (refused by default)')
    .option('--state-dir <dir>', 'where the agent keeps its files, its certificate and token', '.capstan-agent')
    .option('--listen <host:port>', 'the agent port the server calls for logs and exec, served with the node certificate (default 127.0.0.1 and a free port)')
    .option('--address <ip>', "this node's address, reported for it and its pods: other nodes' routers reach its pods there (default 127.0.0.1)")
    .option('--external-address <ip>', "where this node serves LoadBalancer Services (default the node's address)")
    .option('--no-service-router', "run no Service router on this node (by default every node serves every Service: the routing mesh)")
    .option('--heartbeat <seconds>', 'how often the node reports to the server (default 10)', (v) => positiveNumber(v, '--heartbeat'))
    .option('--insecure-http', 'join a plain-HTTP server off loopback (nothing is verified)');
  nodeNetworkOptions(join)
    .addHelpText('after', '\nExample:\n  $ capstan token create --role agent --node worker-2     # on the control plane\n  $ capstan join https://cp-1:7480 --token CAPSTAN-1-…   # on worker-2')
    .action(async (url: string, opts) => (await import('./commands/join.js')).runJoin(io, url, opts));
}

/** Where a node's Service router answers and its DNS server listens (`agent`, `join`, `up`). */
function nodeNetworkOptions(cmd: Command, serviceDefault = "the node's address"): Command {
  return cmd
    .option('--service-address <address>', `where this node's Service router answers: pods' <SVC>_SERVICE_HOST and the DNS answers (default ${serviceDefault})`)
    .option('--dns-address <address>', "where the node's DNS server listens, UDP and TCP (default the node's address); Docker pods get it as their resolver")
    .option('--dns-port <port>', "the node's DNS port (default 53 when run as root, else none; 0 runs no DNS server); a port that cannot be bound is warned about and the node runs without DNS")
    .option('--cluster-domain <domain>', 'the domain of Service names, <svc>.<ns>.svc.<domain> (default cluster.local)');
}

/** [raft] `capstan members list|add|remove`. */
function registerMembersCommand(program: Command, io: CliIO): void {
  const members = program.command('members').description('the members of the Raft group behind a server (admin token)');
  const load = () => import('./commands/members.js');
  withConnection(members.command('list'))
    .description('every member: name, id, peer URL, role, leader, match index')
    .addOption(outputOption(['text', 'json']))
    .action(async (opts) => (await load()).runMembersList(io, opts));
  withConnection(members.command('add'))
    .description('add a member as a learner; the leader promotes it to a voter once it has caught up')
    .argument('<name>', 'the new member\'s name')
    .argument('<peer-url>', 'where the new member will listen for its peers (https://host:port, or http:// as the group\'s other members)')
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nExample:\n  $ capstan members add d https://host-d:7481   # then copy <data-dir>/pki/ca.crt and ca.key to d and start it with the command it prints')
    .action(async (name: string, peerUrl: string, opts) => (await load()).runMembersAdd(io, name, peerUrl, opts));
  withConnection(members.command('remove'))
    .description('remove a member from the group')
    .argument('<name>', 'the member to remove')
    .action(async (name: string, opts) => (await load()).runMembersRemove(io, name, opts));
}

/** A duration such as `300`, `90s`, `5m`, `1h` or `30d`, in seconds. */
function duration(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/i.exec(value);
  const n = m ? Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd']) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a duration such as 300, 90s or 5m, got "${value}"`);
  return n;
}

/** `capstan token create|list|revoke` (admin token). */
function registerTokenCommands(program: Command, io: CliIO): void {
  const token = program.command('token').description('API tokens for people and node agents: create, list, revoke (admin token)');
  const load = () => import('./commands/token.js');
  withConnection(token.command('create'))
    .description('make a token and print it once (the server keeps only its sha256)')
    .requiredOption('--role <role>', 'viewer, deployer, admin or agent')
    .option('--user <name>', 'who it is for, shown in logs and Git pushes (default: the role, or agent-NODE)')
    .option('--node <name>', 'agent tokens: the one node it may act for')
    .option('--ttl <duration>', 'valid for this long, e.g. 3600, 90m, 24h, 30d (default: until revoked)', (v) => duration(v, '--ttl'))
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nExamples:\n  $ capstan token create --role deployer --user alice --ttl 30d\n  $ capstan token create --role agent --node worker-2')
    .action(async (opts) => (await load()).runTokenCreate(io, opts));
  withConnection(token.command('list'))
    .description('every token: id (sha256 prefix), role, user, node, created, expires')
    .addOption(outputOption(['text', 'json']))
    .action(async (opts) => (await load()).runTokenList(io, opts));
  withConnection(token.command('revoke'))
    .description('revoke a token by its id (or a unique prefix of it, as `token list` shows)')
    .argument('<id>', 'the token id')
    .addOption(outputOption(['text', 'json']))
    .action(async (id: string, opts) => (await load()).runTokenRevoke(io, id, opts));
}

/** `capstan node list|cordon|uncordon|drain|delete`, as kubectl's node maintenance. */
function registerNodeCommands(program: Command, io: CliIO): void {
  const node = program.command('node').description('node maintenance: list, cordon, uncordon, drain, delete (admin token, except list)');
  const load = () => import('./commands/node.js');
  withConnection(node.command('list'))
    .description('every node: status (Ready, NotReady, SchedulingDisabled when cordoned), runtime, allocated / capacity, labels')
    .addOption(outputOption(['text', 'json']))
    .action(async (opts) => (await load()).runNodeList(io, opts));
  withConnection(node.command('cordon'))
    .description('mark a node unschedulable: no new pods are placed on it; pods running there stay')
    .argument('<name>', 'the node')
    .addOption(outputOption(['text', 'json']))
    .action(async (name: string, opts) => (await load()).runCordon(io, name, true, opts));
  withConnection(node.command('uncordon'))
    .description('make a cordoned node schedulable again')
    .argument('<name>', 'the node')
    .addOption(outputOption(['text', 'json']))
    .action(async (name: string, opts) => (await load()).runCordon(io, name, false, opts));
  withConnection(node.command('drain'))
    .description('cordon a node, then evict its pods in batches so their controllers recreate them elsewhere; waits until none is left')
    .argument('<name>', 'the node')
    .option('--force', 'also evict pods no controller recreates (such as an analysis job\'s pod)')
    .option('--timeout <duration>', 'give up after this long (exit 1), e.g. 300, 90s, 5m', (v) => duration(v, '--timeout'), 300)
    .option('--batch-size <n>', 'pods evicted per request (default 10, at most 100)', (v) => positiveNumber(v, '--batch-size'))
    .addHelpText('after', '\nExit codes: 0 drained, 1 refused (pods no controller recreates, without --force), error or timed out.\n\nExample:\n  $ capstan node drain worker-2 --timeout 10m && capstan node delete worker-2')
    .action(async (name: string, opts) => (await load()).runDrain(io, name, opts));
  withConnection(node.command('delete'))
    .description('remove a node and its pods (recreated elsewhere); an agent that heartbeats again registers it anew')
    .argument('<name>', 'the node')
    .addOption(outputOption(['text', 'json']))
    .action(async (name: string, opts) => (await load()).runNodeDelete(io, name, opts));
}

/** --server, --token and --data-dir for commands that talk to a running Capstan. */
function withConnection(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'Capstan API server (env CAPSTAN_SERVER, default http://127.0.0.1:7480)')
    .option('--token <token>', 'API token (env CAPSTAN_TOKEN; a local server\'s <data-dir>/admin.token by default)')
    .option('--data-dir <dir>', 'where `capstan up` keeps its data, for the admin token', '.capstan')
    .option('--ca <file>', 'the cluster CA to trust for an https server (env CAPSTAN_CA; default <data-dir>/pki/ca.crt)');
}

function cluster() {
  return import('./commands/cluster.js');
}

function registerClusterCommands(program: Command, io: CliIO): void {
  withConnection(program.command('get'))
    .description('list objects: all, deployments, statefulsets, daemonsets, pods, nodes, services, revisions, events, sources, persistentvolumeclaims, configmaps, secrets, cronjobs')
    .argument('<kind>', 'all | deployments | statefulsets | daemonsets | pods | nodes | services | revisions | events | sources | pvc | configmaps | secrets | cronjobs (short: deploy, sts, ds, po, no, svc, rev, ev, cm, cj)')
    .argument('[name]', 'only this object')
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .addOption(outputOption(['text', 'json', 'yaml']))
    .addHelpText('after', '\nExamples:\n  $ capstan get pods\n  $ capstan get deployments web -o json\n  $ capstan get sources -o json     # the last synced commit, and why a newer one was refused')
    .action(async (kind: string, name: string | undefined, opts) => (await cluster()).runGet(io, kind, name, opts));

  withConnection(program.command('describe'))
    .description('one object in full: its Git source, spec summary, status, pods and recent events')
    .argument('<kind>', 'deploy, rollout, sts, ds, svc, cm, secret, cj, job, ingress, pvc, hpa, pod or node (or KIND/NAME)')
    .argument('[name]', 'the object')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .addOption(outputOption(['text', 'json', 'yaml']))
    .addHelpText('after', '\nExamples:\n  $ capstan describe deploy web\n  $ capstan describe pod/web-6f9c-x2k4z\n  $ capstan describe node node-1 -o json')
    .action(async (kind: string, name: string | undefined, opts) => (await import('./commands/describe.js')).runDescribe(io, kind, name, opts));

  withConnection(program.command('status'))
    .description("a rollout's state: phase, revision, ready and updated pods, canary step")
    .argument('<name>', 'the Deployment or Rollout')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--watch', 'keep showing the state as it changes')
    .option('--wait', 'wait until Healthy (exit 0) or Degraded (exit 1)')
    .option('--timeout <seconds>', 'give up waiting after this long (exit 1)', (v) => positiveNumber(v, '--timeout'), 600)
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nExit codes with --wait: 0 Healthy, 1 Degraded, aborted or timed out.\n\nExample:\n  $ capstan status web --wait --timeout 120')
    .action(async (name: string, opts) => (await cluster()).runStatus(io, name, opts));

  withConnection(program.command('history'))
    .description('every revision of a workload with its outcome')
    .argument('<name>', 'the Deployment or Rollout')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .addOption(outputOption(['text', 'json']))
    .action(async (name: string, opts) => (await cluster()).runHistory(io, name, opts));

  withConnection(program.command('events'))
    .description('what happened, oldest first: rollouts, scheduling, probes, refused commits; -w keeps watching')
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .option('--for <kind/name>', 'only events about this object, e.g. Deployment/web or Source/default')
    .option('-w, --watch', 'after the list, print each new event as it happens (Ctrl-C stops)')
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nExamples:\n  $ capstan events\n  $ capstan events --for Source/default     # why a commit was refused\n  $ capstan events -w -o json               # one JSON object per line')
    .action(async (opts) => (await cluster()).runEvents(io, opts));

  withConnection(program.command('top'))
    .description("cpu and memory the agents measured for each pod (Docker stats or /proc), or per node the pods' sum against capacity")
    .argument('<what>', 'pods or nodes')
    .option('-n, --namespace <ns>', 'only this namespace (pods; default: all)')
    .option('--containers', 'pods: one row per container')
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nMeasured by each agent before every heartbeat; a pod shows <measuring> until it has two samples.\n\nExamples:\n  $ capstan top pods\n  $ capstan top pods --containers\n  $ capstan top nodes -o json')
    .action(async (what: string, opts) => (await import('./commands/top.js')).runTop(io, what, opts));

  withConnection(program.command('logs'))
    .description("a container's output, from its node's agent through the server (any read token)")
    .argument('<target>', 'POD, or deploy/NAME, rollout/NAME, statefulset/NAME, daemonset/NAME, job/NAME (one of its pods)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-c, --container <name>', 'the container (default: the only one, or the kubectl.kubernetes.io/default-container annotation)')
    .option('-f, --follow', 'keep printing what the container writes until it stops (Ctrl-C ends)')
    .option('-p, --previous', 'the previous (dead) container of a restarted one')
    .option('--since <duration>', 'only output newer than this, e.g. 30s, 5m, 1h')
    .option('--tail <lines>', 'only the last N lines', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--tail takes a whole number, got "${v}"`);
      return n;
    })
    .option('--timestamps', 'prefix each line with its time (Docker runtime)')
    .addHelpText('after', '\nExamples:\n  $ capstan logs web-6f9c-x2k4z\n  $ capstan logs deploy/web -f --tail 20\n  $ capstan logs web-6f9c-x2k4z -c sidecar --previous')
    .action(async (target: string, opts) => (await import('./commands/logs.js')).runLogs(io, target, opts));

  withConnection(program.command('exec'))
    .description('run a command in a running container, through the server (deployer or admin token)')
    .argument('<target>', 'POD, or deploy/NAME and the like (one of its pods)')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-c, --container <name>', 'the container (default: the only one, or the kubectl.kubernetes.io/default-container annotation)')
    .option('-i, --stdin', 'pass this terminal\'s input to the command')
    .option('-t, --tty', 'give the command a terminal (Docker runtime; raw mode here, size follows the window)')
    .addHelpText('after', '\nThe exit code is the command\'s.\n\nExamples:\n  $ capstan exec web-6f9c-x2k4z -- ls /\n  $ capstan exec -it web-6f9c-x2k4z -- sh')
    .action(async (target: string, command: string[], opts) => (await import('./commands/exec.js')).runExec(io, target, command, opts));

  withConnection(program.command('sync'))
    .description('reconcile with Git now instead of waiting for the next poll')
    .option('--allow-mass-prune', 'apply a commit that deletes all objects or more than half of them')
    .addOption(outputOption(['text', 'json']))
    .action(async (opts) => (await cluster()).runSync(io, opts));

  withConnection(program.command('rollback'))
    .description('go back to revision N (default: the previous healthy one)')
    .argument('<name>', 'the Deployment or Rollout')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--to-revision <n>', 'the revision to return to', (v) => positiveNumber(v, '--to-revision'))
    .option('--live', 'roll back in the running system at once, without a Git commit (pins until Git changes)')
    .action(async (name: string, opts) => (await cluster()).runControl(io, 'rollback', name, opts));

  const controls: [string, string][] = [
    ['promote', 'move a canary one step on, or promote a blue-green preview (--full: skip the remaining steps)'],
    ['abort', 'stop a rollout: all traffic back to stable, the new revision scaled down and pinned until Git changes'],
    ['retry', 'restart an aborted rollout'],
    ['pause', 'hold a rollout where it is'],
    ['resume', 'continue a paused rollout'],
  ];
  for (const [action, description] of controls) {
    const cmd = withConnection(program.command(action))
      .description(description)
      .argument('<name>', 'the Deployment or Rollout')
      .option('-n, --namespace <ns>', 'namespace', 'default');
    if (action === 'promote') cmd.option('--full', 'skip every remaining step');
    cmd.action(async (name: string, opts) => (await cluster()).runControl(io, action, name, opts));
  }

  withConnection(program.command('version'))
    .description("this CLI's version, and the server's when one answers")
    .option('--client', 'only the CLI; do not ask a server')
    .addOption(outputOption(['text', 'json']))
    .addHelpText('after', '\nExit codes: 0, or 1 when the server does not answer (without --client).')
    .action(async (opts) => (await cluster()).runVersion(io, opts));

  withConnection(program.command('down'))
    .description('stop and remove the pods `capstan up` left running (Ctrl-C on up keeps them); asks first')
    .option('-y, --yes', 'do not ask')
    .option('--node <name>', 'the node name up ran as (default: this host name, as up picks it)')
    .option('--grace <seconds>', 'time each container gets between SIGTERM and SIGKILL', (v) => positiveNumber(v, '--grace'), 10)
    .addHelpText('after', '\nThe store, tokens and Git data stay: the next capstan up starts the pods again.\nRefused while capstan up still answers on --server.\n\nExample:\n  $ capstan down --yes')
    .action(async (opts) => (await import('./commands/down.js')).runDown(io, { ...opts, ...(io.ask ? { ask: io.ask } : {}) }));
}

function printError(io: CliIO, err: unknown, debug: boolean): void {
  if (err instanceof CapstanError) {
    const d = err.toDiagnostic('');
    io.err(d.file ? `${formatDiagnostic(d)}\n` : `capstan: ${err.message} [${err.code}]\n`);
  } else {
    io.err(`capstan: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  if (debug && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ExitRequest) return err.exitCode;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof CapstanError && err.code === 'CAPSTAN_ERR_CLI_USAGE') {
      printError(io, err, debug);
      return EXIT_USAGE;
    }
    printError(io, err, debug);
    return EXIT_FAILURE;
  }
}
