const BLOCK = 512;

function writeField(header: Uint8Array, start: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength > length) throw new Error(`tar: "${text}" does not fit a ${length}-byte field`);
  header.set(bytes, start);
}

const octal = (value: number, digits: number): string => `${value.toString(8).padStart(digits, '0')}\0`;

/**
 * A minimal ustar writer for tests (regular files only, names up to 100 bytes): what `npm pack`
 * produces for a package, without gzip. Each file is a 512-byte header (checksum included) and its
 * bytes padded to 512; two zero blocks end the archive.
 */
export function writeTar(files: Readonly<Record<string, Uint8Array>>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of Object.entries(files)) {
    const header = new Uint8Array(BLOCK);
    writeField(header, 0, 100, name);
    writeField(header, 100, 8, octal(0o644, 7));
    writeField(header, 108, 8, octal(0, 7));
    writeField(header, 116, 8, octal(0, 7));
    writeField(header, 124, 12, octal(data.byteLength, 11));
    writeField(header, 136, 12, octal(0, 11));
    header.fill(0x20, 148, 156); // the checksum counts its own field as spaces
    writeField(header, 156, 1, '0');
    writeField(header, 257, 6, 'ustar\0');
    writeField(header, 263, 2, '00');
    const sum = header.reduce((total, byte) => total + byte, 0);
    writeField(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    parts.push(header, data, new Uint8Array((BLOCK - (data.byteLength % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
