/**
 * GPT-2's byte-to-unicode table (`bytes_to_unicode` in its encoder.py): byte-level BPE vocabularies
 * spell every byte as one printable character — the printable Latin-1 bytes as themselves, the other
 * 68 as U+0100 upwards in byte order (so a space is `Ġ`, a newline `Ċ`).
 */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (byte: number) => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  const table: string[] = [];
  let next = 256;
  for (let byte = 0; byte < 256; byte++) table.push(String.fromCharCode(printable(byte) ? byte : next++));
  return table;
})();

const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((char, byte) => [char.charCodeAt(0), byte]));

/** UTF-8 bytes as the vocabulary spells them, one character per byte. */
export function bytesToVocabText(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += BYTE_TO_CHAR[bytes[i]!]!;
  return text;
}

/**
 * The bytes a vocabulary entry stands for. A character outside the table (never in a real byte-level
 * vocabulary) stands for its own UTF-8 bytes.
 */
export function vocabTextToBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const byte = CHAR_TO_BYTE.get(text.charCodeAt(i));
    if (byte !== undefined) {
      bytes.push(byte);
      continue;
    }
    const end = i + 1 < text.length && (text.charCodeAt(i) & 0xfc00) === 0xd800 ? i + 2 : i + 1;
    bytes.push(...new TextEncoder().encode(text.slice(i, end)));
    i = end - 1;
  }
  return Uint8Array.from(bytes);
}
