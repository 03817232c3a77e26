// The well-known labels a node carries, as the kubelet sets them, so manifests written for
// Kubernetes (`nodeSelector: {kubernetes.io/os: linux}`) find their nodes. Labels given with
// `capstan agent --labels` come on top of these (and replace them key by key).

/** Node.js `process.arch` → the GOARCH name Kubernetes uses. */
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function wellKnownNodeLabels(name: string, platform: string = process.platform, arch: string = process.arch): Record<string, string> {
  const os = platform === 'win32' ? 'windows' : platform;
  const goarch = ARCH[arch] ?? arch;
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': os,
    'kubernetes.io/arch': goarch,
    // Set by a cloud provider on Kubernetes; plain hosts have none, so (as k3s does with
    // "k3s") the label names the distribution. `--labels node.kubernetes.io/instance-type=…`
    // gives a real one, as it does topology.kubernetes.io/zone and region.
    'node.kubernetes.io/instance-type': 'capstan',
    // Deprecated in Kubernetes, still found in older manifests.
    'beta.kubernetes.io/os': os,
    'beta.kubernetes.io/arch': goarch,
  };
}
