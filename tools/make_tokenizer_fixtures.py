#!/usr/bin/env python3
"""Extra tokenizer parity cases from OpenAI's reference CLIP tokenizer (our own script; it imports the reference).

Usage (python3 with the `regex` and `ftfy` 6.3.1 packages; the reference sources from github.com/openai/CLIP,
commit d05afc4, with `clip/simple_tokenizer.py` under --clip-src):
  python3 tools/make_tokenizer_fixtures.py --clip-src /tmp/clipref \
      --out packages/tokenizer/src/__fixtures__/tokenizer-extra.json

Without ftfy installed, `ftfy.fix_text` is replaced by the identity and the output says so (then only cases that
ftfy leaves alone are meaningful). The committed file was made with ftfy 6.3.1.
"""
import argparse, json, sys, types, unicodedata

CASES = [
    # emoji: skin tones, ZWJ families, flags, keycaps, variation selectors
    "👍🏽 thumbs up", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪 flags", "1️⃣ keycap", "❤️ vs ❤", "🏳️‍🌈 rainbow flag", "🤷‍♀️",
    "emoji😀without spaces😃", "🧑🏿‍🚀 astronaut",
    # CJK and other scripts
    "東京タワーの写真", "一只可爱的猫", "고양이 사진", "ภาษาไทย", "हिन्दी भाषा", "العربية لغة", "עברית",
    "Ελληνικά ΣΟΦΟΣ", "русский текст", "ქართული", "ᐃᓄᒃᑎᑐᑦ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math", "𠜎𠜱𠝹 rare cjk",
    # accents and case
    "Crème brûlée à la française", "ÀÉÎÕÜ ÑÇ", "İstanbul", "STRASSE straße ẞ", "Øresund Ærø", "ǅemal ǈ ǋ",
    "naïve coöperate façade", "ΌΣΟΣ ΣΑΣ",
    # HTML
    "&lt;div class=&quot;x&quot;&gt;hi&lt;/div&gt;", "Tom &amp; Jerry &copy; 1940", "&#169; &#xA9; &copy",
    "&notit; &ampfoo &lt3", "caf&#233; cr&egrave;me", "&#128512; &#x1f600", "a&nbsp;b&nbsp;&nbsp;c", "&unknown; &",
    "<b>bold</b> & <i>it</i>",
    # numbers, punctuation, code, URLs
    "3.14159 1,000,000 2nd ½ ² ٣ ๓", "$100 €50 £20 ¥1000", "C++ && || != === ->", "def f(x): return x**2  # comment",
    "https://example.com/path?q=a+b&r=1#frag", "user@example.com", "...!!!???", "— – - ‐ dashes",
    "'quoted' \"double\" `back`", "it's they're we've i'm you'll he'd can't", "IT'S THEY'RE", "rock'n'roll",
    "o'neill's", "''s 's", "<|startoftext|>hello<|endoftext|>", "<|ENDOFTEXT|> upper", "<|endoftext|",
    # whitespace and empties
    "", " ", "\t\n  \u3000", "a\u00a0b\u2003c", "  leading and trailing  ", "x" * 300, "ab " * 40,
    "tab\tseparated\tvalues",
    # long text (truncation)
    "a photo of " + "a very " * 40 + "cat",
    " ".join(str(i) for i in range(60)),
    "The quick brown fox jumps over the lazy dog. " * 8,
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip-src", required=True, help="folder that holds the reference `clip` package")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        import ftfy  # noqa: F401
        ftfy_version = ftfy.__version__
    except ImportError:
        sys.modules["ftfy"] = types.SimpleNamespace(fix_text=lambda s: s)
        ftfy_version = None
    # simple_tokenizer.py is loaded on its own: the `clip` package's __init__ imports torch, which is not needed.
    import importlib.util
    spec = importlib.util.spec_from_file_location("simple_tokenizer", f"{args.clip_src}/clip/simple_tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tok = module.SimpleTokenizer()
    sot, eot = tok.encoder["<|startoftext|>"], tok.encoder["<|endoftext|>"]

    def tokenize(text, context_length=77):
        # clip.tokenize(texts, context_length, truncate=True) for one text, as a list
        tokens = [sot] + tok.encode(text) + [eot]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]
            tokens[-1] = eot
        return tokens + [0] * (context_length - len(tokens))

    out = []
    for text in CASES:
        assert unicodedata.normalize("NFC", text) == text, f"not NFC: {text!r}"
        ids = tok.encode(text)
        row = tokenize(text)
        out.append({
            "text": text,
            "ids": ids,
            "tokenize": row,
            "truncated": len(ids) + 2 > 77,
            "decoded": tok.decode(ids),
        })
    # decode(): invalid UTF-8 (byte tokens cut out of multi-byte characters), padding, specials, random ids.
    import html, random
    rng = random.Random(0)
    byte_ids = [tok.encoder[tok.byte_encoder[b]] for b in range(256)]
    decode_cases = [
        [byte_ids[0xF0], byte_ids[0x9F]],
        [byte_ids[0xE2], byte_ids[0x82], 320],
        [byte_ids[0xC3]] + tok.encode("a cat"),
        [byte_ids[0xFF], byte_ids[0x80], byte_ids[0xBF], byte_ids[0xED], byte_ids[0xA0], byte_ids[0x80]],
        [sot] + tok.encode("a photo of a cat") + [eot, 0, 0, 0],
        [],
    ] + [[rng.randrange(len(tok.encoder)) for _ in range(rng.randrange(1, 12))] for _ in range(40)]
    decode_out = [{"ids": ids, "decoded": tok.decode(ids)} for ids in decode_cases]

    # html.unescape (the reference applies it twice) on hard cases
    html_cases = ["&amp;", "&lt;b&gt;", "&notit;", "&notin;", "&ampxyz", "&#1;x", "&#0;", "&#x80;", "&#x81;",
                  "&#xD800;", "&#99999999999999;", "&#x110000;", "&#x1F600;", "&eacute", "&EACUTE;", "&Eacute;",
                  "&amp;amp;", "&#13;", "&#xFFFF;", "&#x1FFFE;", "&#xFDD0;", "&#127;", "&#11;", "&foo;", "&;",
                  "&#;", "&#x;", "&a", "&lt", "&ltx", "&nbsp;nbsp", "&#65", "&#x41zz", "&copy2", "&hellip;",
                  "&constructor;", "&toString;", "&__proto__;", "&AMP;", "&AMP", "&Aacute", "&aacutex;",
                  "&#0000000065;", "&#x0041;", "&NotNestedGreaterGreater;", "&ThickSpace;", "&nGt;",
                  "&" + "a" * 40 + ";", "&&amp;&", "&#65;&#66&#x43;&#X44;", "&lt;&lt;&gt;"]
    html_out = [{"text": t, "unescaped": html.unescape(t)} for t in html_cases]

    doc = {
        "generator": "tools/make_tokenizer_fixtures.py",
        "reference": "github.com/openai/CLIP d05afc436d78f1c48dc0dbf8e5980a9d471f35f6 (simple_tokenizer.py, clip.tokenize)",
        "python": sys.version.split()[0],
        "unicodedata": unicodedata.unidata_version,
        "regex": __import__("regex").__version__,
        "ftfy": ftfy_version or "not installed: identity stub (cases are ftfy-invariant)",
        "cases": out,
        "decode": decode_out,
        "html_unescape": html_out,
    }
    with open(args.out, "w", encoding="ascii") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
    print(f"wrote {len(out)} cases to {args.out}")


if __name__ == "__main__":
    main()
