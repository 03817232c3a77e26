import { Command } from 'commander';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('capstan');
  program.description('GitOps control plane for containers on plain Docker hosts');
  await program.parseAsync(argv);
  return 0;
}
