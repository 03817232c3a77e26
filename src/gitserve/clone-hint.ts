// What `capstan up` prints for cloning the served repository: a `git clone` whose credential
// helper reads the token file when git asks, so the token never appears on the command line,
// in the clone's remote URL or in the output, and later fetches and pushes from the clone
// authenticate the same way.

/** Quotes a string for a POSIX shell (single quotes, `'` written as `'\''`). */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The credential helper git runs (through sh) when the server asks for credentials: it answers
 * with the user `capstan` and the content of `tokenFile` as the password.
 */
export function credentialHelper(tokenFile: string): string {
  const inDoubleQuotes = tokenFile.replace(/["$`\\]/g, (c) => `\\${c}`);
  return `!f() { echo username=capstan; echo "password=$(cat "${inDoubleQuotes}")"; }; f`;
}

/**
 * `git clone -c credential.helper=… URL [DIR]`, ready to paste into a shell; over https the
 * clone trusts the cluster CA (`http.sslCAInfo`, kept in the clone's config like the helper).
 */
export function cloneCommand(gitUrl: string, tokenFile: string, dir?: string, caFile?: string): string {
  const ca = caFile !== undefined && gitUrl.startsWith('https:') ? ['-c', shellQuote(`http.sslCAInfo=${caFile}`)] : [];
  return ['git', 'clone', '-c', shellQuote(`credential.helper=${credentialHelper(tokenFile)}`), ...ca, shellQuote(gitUrl), ...(dir ? [shellQuote(dir)] : [])].join(' ');
}

/** The warning printed and logged when `--git-anonymous-read` is on. */
export function anonymousReadWarning(gitUrl: string): string {
  return `--git-anonymous-read: anyone who can reach ${gitUrl} can clone everything in the repository, Secrets included, without a token`;
}
