/**
 * What the README tells an operator to type or copy, read from README.md itself so the tests exercise the text a
 * person follows rather than a copy of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { RUNTIME_CONFIG_GLOBAL, RuntimeConfigSchema } from '../app/src/runtime-config.ts';
import type { RuntimeConfig } from '../app/src/runtime-config.ts';

const README = path.resolve(import.meta.dirname, '..', 'README.md');

/** The bodies of the README's fenced code blocks in `language`. */
export function readmeCodeBlocks(language: string): string[] {
  const text = readFileSync(README, 'utf8');
  const fence = new RegExp('^( *)```' + language + '\\n([\\s\\S]*?)^\\1```$', 'gm');
  return [...text.matchAll(fence)].map((match) => {
    const indent = match[1] ?? '';
    return (match[2] ?? '')
      .split('\n')
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
      .join('\n');
  });
}

/** The README's example `/config.js` (the one ```js block that assigns the app's config global). */
export function readmeConfigJs(): string {
  const blocks = readmeCodeBlocks('js').filter((block) => block.includes(RUNTIME_CONFIG_GLOBAL));
  if (blocks.length !== 1) {
    throw new Error(`README.md should have exactly one \`\`\`js block setting ${RUNTIME_CONFIG_GLOBAL}`);
  }
  return blocks[0] ?? '';
}

/**
 * Runs a `/config.js` as a browser would (a script assigning a global on `window`) and reads what the app would.
 * @param source - The script.
 * @returns The global's value, validated by the app's own schema.
 */
export function evalConfigJs(source: string): RuntimeConfig {
  const window: Record<string, unknown> = {};
  vm.runInNewContext(source, { window });
  return RuntimeConfigSchema.parse(window[RUNTIME_CONFIG_GLOBAL]);
}

/** The README's one command line that generates `BASELINE_TOKEN_KEY` (the ```sh line mentioning it). */
export function readmeTokenKeyCommand(): string {
  const lines = readmeCodeBlocks('sh')
    .flatMap((block) => block.split('\n'))
    .filter((line) => /#.*BASELINE_TOKEN_KEY\b/.test(line) && !line.trimStart().startsWith('#'));
  if (lines.length !== 1) {
    throw new Error('README.md should have exactly one ```sh command line commented with BASELINE_TOKEN_KEY');
  }
  return (lines[0] ?? '').replace(/\s+#.*$/, '').trim();
}
