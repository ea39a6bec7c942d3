/**
 * What scripts/edge/README.md tells an operator to run, read from the README itself so the tests exercise the text a
 * person follows rather than a copy of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const README = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'edge', 'README.md');

function shellBlocks(): string[] {
  const text = readFileSync(README, 'utf8');
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

export interface CurlCheck {
  command: string;
  expected: string;
}

/** Every `curl` line of the README's sh blocks with the `# expect: <output>` line that follows it. */
export function readmeCurlChecks(): CurlCheck[] {
  const checks: CurlCheck[] = [];
  for (const block of shellBlocks()) {
    const lines = block.split('\n');
    lines.forEach((line, index) => {
      if (!line.startsWith('curl ')) {
        return;
      }
      const expected = /^# expect: (.*)$/.exec(lines[index + 1] ?? '')?.[1];
      if (expected === undefined) {
        throw new Error(`scripts/edge/README.md: no "# expect: ..." line after ${line}`);
      }
      checks.push({ command: line, expected });
    });
  }
  return checks;
}

/** The README's one command line that makes an OURA_WEBHOOK_VERIFICATION_TOKEN (commented with that name). */
export function readmeTokenCommand(): string {
  const lines = shellBlocks()
    .flatMap((block) => block.split('\n'))
    .filter((line) => /#.*OURA_WEBHOOK_VERIFICATION_TOKEN\b/.test(line) && !line.trimStart().startsWith('#'))
    .filter((line) => !/^[A-Z_]+=/.test(line));
  if (lines.length !== 1) {
    throw new Error('scripts/edge/README.md should have exactly one sh command commented with the token name');
  }
  return (lines[0] ?? '').replace(/\s+#.*$/, '').trim();
}
