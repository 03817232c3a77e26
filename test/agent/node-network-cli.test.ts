// --service-address, --dns-address, --dns-port and --cluster-domain of `capstan agent`, `join` and `up`.
import { describe, expect, it } from 'vitest';
import { parseAgentNetwork } from '../../src/cli/commands/agent.js';

describe('node network flags', () => {
  it('runs DNS on port 53 by default, none with --dns-port 0, and passes the service address', () => {
    expect(parseAgentNetwork({})).toEqual({ dns: { port: 53 } });
    expect(parseAgentNetwork({ dnsPort: '0' })).toEqual({});
    // Not root: no DNS unless a port is asked for.
    expect(parseAgentNetwork({}, { canBindPort53: false })).toEqual({});
    expect(parseAgentNetwork({ dnsPort: '5353' }, { canBindPort53: false })).toEqual({ dns: { port: 5353 } });
    expect(parseAgentNetwork({ serviceAddress: '10.0.0.7', dnsAddress: '10.0.0.7', dnsPort: '5353', clusterDomain: 'corp.internal.' })).toEqual({
      serviceHost: '10.0.0.7',
      dns: { host: '10.0.0.7', port: 5353, clusterDomain: 'corp.internal' },
    });
  });

  it('refuses bad values with usage errors naming the flag', () => {
    const bad = (opts: Parameters<typeof parseAgentNetwork>[0]): { code: string; message: string } => {
      try {
        parseAgentNetwork(opts);
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error('accepted');
    };
    expect(bad({ serviceAddress: 'router.local' })).toMatchObject({ code: 'CAPSTAN_ERR_CLI_USAGE', message: expect.stringContaining('--service-address') });
    expect(bad({ dnsPort: '70000' })).toMatchObject({ code: 'CAPSTAN_ERR_CLI_USAGE', message: expect.stringContaining('--dns-port') });
    expect(bad({ dnsAddress: 'nope' })).toMatchObject({ code: 'CAPSTAN_ERR_CLI_USAGE', message: expect.stringContaining('--dns-address') });
    expect(bad({ clusterDomain: 'bad_domain' })).toMatchObject({ code: 'CAPSTAN_ERR_CLI_USAGE', message: expect.stringContaining('--cluster-domain') });
  });
});
