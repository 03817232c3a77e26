import { describe, expect, it } from 'vitest';
import { forgeCommitLink, forgeFileLink, forgeRepo } from '../../src/dashboard/forge.js';

describe('forge links', () => {
  it('links a file:line on GitHub, GitLab, Gitea and Bitbucket', () => {
    expect(forgeFileLink('https://github.com/acme/deploy.git', 'abc', 'apps/web.yaml', 12)).toBe('https://github.com/acme/deploy/blob/abc/apps/web.yaml#L12');
    expect(forgeFileLink('git@github.com:acme/deploy.git', 'abc', 'apps/web.yaml', 3)).toBe('https://github.com/acme/deploy/blob/abc/apps/web.yaml#L3');
    expect(forgeFileLink('https://gitlab.com/group/sub/deploy.git', 'abc', 'a b.yaml', 2)).toBe('https://gitlab.com/group/sub/deploy/-/blob/abc/a%20b.yaml#L2');
    expect(forgeFileLink('https://codeberg.org/acme/deploy', 'abc', 'x.yaml', 1)).toBe('https://codeberg.org/acme/deploy/src/commit/abc/x.yaml#L1');
    expect(forgeFileLink('https://bitbucket.org/acme/deploy.git', 'abc', 'x.yaml', 9)).toBe('https://bitbucket.org/acme/deploy/src/abc/x.yaml#lines-9');
    expect(forgeFileLink('https://github.com/acme/deploy', 'abc', 'x.yaml')).toBe('https://github.com/acme/deploy/blob/abc/x.yaml');
  });

  it('drops credentials from the clone URL', () => {
    const link = forgeFileLink('https://user:s3cret@github.com/acme/deploy.git', 'abc', 'x.yaml', 1)!;
    expect(link).toBe('https://github.com/acme/deploy/blob/abc/x.yaml#L1');
    expect(link).not.toContain('s3cret');
    expect(forgeCommitLink('https://oauth2:tok@gitlab.example.com/acme/deploy.git', 'abc')).toBe('https://gitlab.example.com/acme/deploy/-/commit/abc');
  });

  it('gives no link for folders, unknown hosts or without a commit', () => {
    expect(forgeRepo('/srv/deploy')).toBeUndefined();
    expect(forgeRepo('./examples-repo')).toBeUndefined();
    expect(forgeRepo('http://127.0.0.1:3000/deploy.git')).toBeUndefined();
    expect(forgeRepo('https://github.com/acme')).toBeUndefined();
    expect(forgeRepo('file:///srv/deploy.git')).toBeUndefined();
    expect(forgeFileLink('https://github.com/acme/deploy', null, 'x.yaml', 1)).toBeUndefined();
  });
});
