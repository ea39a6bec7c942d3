/**
 * A FHIR package is a gzipped tar of a `package/` folder (hl7.org/fhir/packages.html). Only regular files are needed,
 * so this writes the POSIX ustar format itself rather than adding a dependency for it: a 512-byte header per file,
 * the content padded to 512 bytes, and two zero blocks at the end. Header fields are NUL-terminated octal; the
 * checksum is the byte sum of the header with its own field read as spaces.
 *
 * Every header carries the same mtime, uid/gid 0 and mode 0644, and gzip writes no timestamp, so the same files make
 * the same bytes (a package's shasum does not change when nothing in it did).
 */
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  /** Path inside the archive, `/`-separated, e.g. `package/package.json`. */
  readonly path: string;
  readonly content: Buffer;
}

const BLOCK = 512;
/** npm's own fixed time for reproducible packages (1985-10-26T08:15:00Z): a zero mtime makes GNU tar warn. */
export const FIXED_MTIME = Date.UTC(1985, 9, 26, 8, 15, 0) / 1000;

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) {
    throw new Error(`tar header field too long (${bytes.length} > ${length} bytes): ${value}`);
  }
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // length - 1 digits, then the NUL terminator already in the zeroed buffer.
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) {
    throw new Error(`tar numeric field overflow: ${value}`);
  }
  writeString(header, offset, length - 1, digits);
}

/**
 * ustar keeps up to 100 bytes in `name` and up to 155 more in `prefix`, split at a `/`.
 * @returns [prefix, name]
 */
export function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) {
    return ['', path];
  }
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) {
      return [prefix, name];
    }
  }
  throw new Error(`path too long for a ustar archive: ${path}`);
}

/** @returns the 512-byte ustar header of one regular file */
export function tarHeader(path: string, size: number, mtime: number = FIXED_MTIME): Buffer {
  const header = Buffer.alloc(BLOCK);
  const [prefix, name] = splitPath(path);
  writeString(header, 0, 100, name);
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, mtime);
  header.fill(' ', 148, 156);
  header.write('0', 156, 'ascii');
  header.write('ustar\u000000', 257, 'ascii');
  writeString(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) {
    sum += byte;
  }
  // Six octal digits, NUL, space: the layout every tar reader accepts.
  header.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'ascii');
  return header;
}

/** @returns the uncompressed tar archive of `entries`, in the order given */
export function tar(entries: readonly TarEntry[], mtime: number = FIXED_MTIME): Buffer {
  const seen = new Set<string>();
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (seen.has(entry.path)) {
      throw new Error(`duplicate path in tar archive: ${entry.path}`);
    }
    seen.add(entry.path);
    parts.push(tarHeader(entry.path, entry.content.length, mtime), entry.content);
    const pad = (BLOCK - (entry.content.length % BLOCK)) % BLOCK;
    if (pad > 0) {
      parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** @returns the gzipped tar (a `.tgz`) of `entries` */
export function tgz(entries: readonly TarEntry[], mtime: number = FIXED_MTIME): Buffer {
  return gzipSync(tar(entries, mtime), { level: 9 });
}
