/**
 * Text that exercises a tokenizer: prose with contractions, code, numbers, whitespace runs, many
 * scripts (CJK, RTL, Indic, combining marks), emoji sequences, punctuation runs and strings that look
 * like special tokens. About 4,000 characters. NFC throughout except where marked, and free of U+0085
 * and U+FEFF (on which transformers.js's `\s` differs from the Rust tokenizers: see the BPE tests).
 */
export const VARIED_TEXTS: readonly string[] = [
  "I'm sure you'll see it's the cat's toy; they'd've said WE'RE done. DON'T shout! You've 'quoted' it, haven't you? O'Neill's ol' rock'n'roll.",
  'The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! the   quick\tbrown\t\tfox...',
  'export async function main(argv: string[]): Promise<number> {\n  const [cmd, ...rest] = argv;\n  if (!cmd) return 1; // usage\n  for (let i = 0; i < rest.length; i++) console.log(`${i}: ${rest[i]!.trim()}`);\n  return 0;\n}\n',
  'def fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint([fib(k) for k in range(10)])  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n',
  '{"name": "adakv", "version": "0.1.0", "scripts": {"test": "vitest run"}, "ok": true, "n": null, "x": -1.5e-10}',
  '#!/bin/sh\nset -eu\nfor f in *.gguf; do echo "$f: $(wc -c < "$f") bytes" | tee -a log.txt; done\nif [ $? -ne 0 ]; then exit 2; fi',
  '<div class="card" id=\'main\'><p>Hello &amp; welcome &lt;3</p><br/><img src="a.png" alt=""/></div>',
  's/^\\s*(\\w+)=(.*?)\\s*$/\\1: \\2/g; [a-zA-Z0-9_]+@[a-z]+\\.(com|org) \\\\ C:\\Users\\me\\file.txt',
  'Numbers: 0 7 42 123 1234 12345 1234567 12345678901234567890 3.14159 2.718e10 -0.001 +5 1,000,000 1.000.000,50 10% 2024-05-17T12:34:56Z 0x1F 0b1010 ½ ¾ ² ³ ① ② ٣٤٥ १२३ ৪৫৬ ๑๒๓ Ⅻ',
  'Spaces: a  b   c    d     e      f\n\n\ng\r\nh\r\n\r\ni \n j  \n  k   \n\n   \t \t \u00a0nbsp\u00a0\u00a0two ideographic\u3000space\u2003em\u2009thin',
  '                    twenty leading spaces, and trailing ones:                    ',
  '\n\n\n\n\n\n\n\nnewlines first\t\t\t\ttabs\n \n \n',
  'naïve café résumé Ångström façade coöperate São Paulo Zürich Straße Œuvre Ærø Ðiđ Łódź Čeština Ελληνικά Русский язык Українська',
  'العربية لغة جميلة، وهي تكتب من اليمين إلى اليسار. עברית גם כן. हिन्दी में लिखा गया वाक्य। தமிழ் மொழி. ภาษาไทยไม่มีช่องว่าง',
  '中文：我爱自然语言处理。机器学习很有趣！日本語：私は東京に住んでいます。ひらがな、カタカナ、漢字。한국어: 안녕하세요, 만나서 반갑습니다.',
  'Emoji: 😀😃😄 👍🏽👍🏿 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵🇺🇸 1️⃣ #️⃣ ❤️ ☕ 🧑‍💻 🫠 🦀🐍 ✨✅❌⚠️ 👩🏾‍🚀',
  'Math & symbols: ∑_{i=1}^{n} i² = n(n+1)/2; ∫₀^∞ e^{-x} dx = 1; √2 ≈ 1.414; ∀x∈ℝ ∃y: y>x; α→β⇒γ; ≤ ≥ ≠ ± × ÷ ∞ ° € £ ¥ ₹ ₿ © ® ™ § ¶ † ‡ • … ‰',
  'Punctuation!!! Really??? Wait... — no – yes --- *** ### @@@ $$$ %%% ^^^ &&& ((())) [[[]]] {{{}}} <<<>>> ||| ~~~ ``` ;;; ::: ,,, ... «guillemets» „Anführung“ “curly” ‘single’ ¡Hola! ¿Qué? 。，、！？「」『』',
  'Looks special: <|eot_id|> <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|> <|end_of_text|> <|reserved_special_token_5|>',
  'Also: <|im_start|>system\nYou are helpful.<|im_end|>\n<|endoftext|> <tool_call>{"x":1}</tool_call> <|fim_prefix|>a<|fim_middle|> <|repo_name|>',
  'Lookalikes: <s> </s> <unk> [INST] [/INST] <<SYS>> <|eot_id| |eot_id|> <<|eot_id|>> <|EOT_ID|> < |eot_id| > <|im_start|<|im_end|>|> <|',
  'Mixed: The 3 little pigs (ages 4, 5 & 6) built 2.5 houses in 2023 — 😅 — and said "we\'ll be back!" at 9:30am on 12/25.',
  'Combining marks (NFD): e\u0301te\u0301 Ame\u0301lie n\u0303 a\u030a o\u0308 and Hangul jamo \u1100\u1161\u11a8',
  'Zero width: a\u200bb c\u200cd e\u200df \u2060g LRM\u200eRLM\u200f  soft\u00adhyphen  bidi \u202aembedded\u202c',
  'Control characters: \u0001\u0002\u0007\u001b[31mred\u001b[0m \u007f \u0000null',
  "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D ''s x's X'S 'X",
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbb 0000000000000000000000 !!!!!!!!!!!!!!!!!!!!!!!!',
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the sky. It was the sun! She was so happy.',
];

/** The texts above that are already in NFC (a Qwen 2 tokenizer normalizes to NFC, so only these round-trip exactly). */
export const NFC_TEXTS: readonly string[] = VARIED_TEXTS.filter((text) => text === text.normalize('NFC'));

/** All of it as one text (a few thousand characters), separated by blank lines. */
export const VARIED_TEXT = VARIED_TEXTS.join('\n\n');
