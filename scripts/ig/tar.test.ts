import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import { FIXED_MTIME, splitPath, tar, tarHeader, tgz } from './tar.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'baseline-tar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LONG_NAME = `package/example/${'d'.repeat(60)}/${'x'.repeat(60)}.json`;
const ENTRIES = [
  { path: 'package/package.json', content: Buffer.from('{"name":"a"}\n') },
  { path: 'package/example/empty.json', content: Buffer.alloc(0) },
  { path: 'package/block.bin', content: Buffer.alloc(512, 7) },
  { path: LONG_NAME, content: Buffer.from('é ✓\n', 'utf8') },
];

describe('tarHeader', () => {
  test('writes a ustar header whose checksum is the byte sum with the checksum field as spaces', () => {
    const header = tarHeader('package/a.json', 1234);
    expect(header.length).toBe(512);
    expect(header.toString('ascii', 257, 263)).toBe('ustar\u0000');
    expect(header.toString('ascii', 263, 265)).toBe('00');
    expect(header.toString('ascii', 124, 135)).toBe((1234).toString(8).padStart(11, '0'));
    expect(header.toString('ascii', 136, 147)).toBe(FIXED_MTIME.toString(8).padStart(11, '0'));
    const stored = parseInt(header.toString('ascii', 148, 154), 8);
    const blank = Buffer.from(header);
    blank.fill(' ', 148, 156);
    expect(stored).toBe(blank.reduce((sum, b) => sum + b, 0));
  });

  test('splits a path longer than 100 bytes into prefix and name at a slash', () => {
    expect(splitPath('package/a.json')).toEqual(['', 'package/a.json']);
    const [prefix, name] = splitPath(LONG_NAME);
    expect(`${prefix}/${name}`).toBe(LONG_NAME);
    expect(name.length).toBeLessThanOrEqual(100);
    expect(() => splitPath('y'.repeat(101))).toThrow(/too long/);
  });
});

describe('tar / tgz', () => {
  test('pads every file to 512 bytes and ends with two zero blocks', () => {
    const archive = tar(ENTRIES);
    // 4 headers + 1 + 0 + 1 + 1 content blocks + 2 end blocks.
    expect(archive.length).toBe((4 + 3 + 2) * 512);
    expect(archive.subarray(archive.length - 1024).every((b) => b === 0)).toBe(true);
  });

  test('GNU tar lists and extracts exactly the files, with their content', () => {
    const file = path.join(tmp, 'a.tgz');
    writeFileSync(file, tgz(ENTRIES));
    const listed = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual(ENTRIES.map((e) => e.path));
    const out = mkdtempSync(path.join(tmp, 'x-'));
    execFileSync('tar', ['-xzf', file, '-C', out]);
    for (const e of ENTRIES) {
      expect(readFileSync(path.join(out, e.path))).toEqual(e.content);
    }
  });

  test('the same entries give the same bytes, and gzip holds the tar', () => {
    expect(tgz(ENTRIES)).toEqual(tgz(ENTRIES));
    expect(gunzipSync(tgz(ENTRIES))).toEqual(tar(ENTRIES));
  });

  test('refuses a path twice', () => {
    expect(() => tar([ENTRIES[0] ?? { path: 'a', content: Buffer.alloc(0) }, ...ENTRIES])).toThrow(/duplicate/);
  });
});
