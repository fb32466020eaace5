#!/usr/bin/env node
/**
 * proj-tokenize: CLIP-tokenize text from the command line.
 *
 *   proj-tokenize "a photo of a cat"                 ids and tokens of each argument
 *   echo "a photo of a cat" | proj-tokenize          one text per input line
 *   proj-tokenize --rows --context-length 16 "a cat" clip.tokenize rows
 *   proj-tokenize --decode 320 1125 539              ids back to text
 *   proj-tokenize --json "a cat"                     machine-readable output
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ClipTokenizer, DEFAULT_CONTEXT_LENGTH } from "./clip-tokenizer.js";
import type { TokenizerFiles } from "./vocabulary.js";

const HELP = `Usage: proj-tokenize [options] [text ...]

Tokenizes each text with OpenAI CLIP's BPE tokenizer and prints its ids and tokens.
With no text arguments, reads one text per line from standard input.

Options:
  --rows                  print clip.tokenize rows (start/end tokens, zero padding)
  --context-length <n>    row length for --rows (default ${DEFAULT_CONTEXT_LENGTH})
  --truncate              cut overlong texts to fit the row instead of failing
  --decode                treat the arguments as ids and print the decoded text
  --json                  print JSON (one object per text) instead of text
  --bpe <file>            vocabulary: OpenAI merges file (.txt or .txt.gz)
  --vocab <file>          vocabulary: Hugging Face vocab.json (with --merges)
  --merges <file>         Hugging Face merges.txt (with --vocab)
  --tokenizer-json <file> vocabulary: Hugging Face tokenizer.json
  -h, --help              show this help
  -v, --version           show the version
Default vocabulary: CLIP's bpe_simple_vocab_16e6 (bundled).`;

function fail(message: string): never {
  process.stderr.write(`proj-tokenize: ${message}\n`);
  process.exit(2);
}

async function loadTokenizer(values: Record<string, string | boolean | undefined>): Promise<ClipTokenizer> {
  const read = (path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      return fail(`cannot read ${path}: ${(error as Error).message}`);
    }
  };
  let files: TokenizerFiles | undefined;
  if (typeof values.bpe === "string") {
    const bytes = read(values.bpe);
    files = bytes[0] === 0x1f && bytes[1] === 0x8b ? { bpeGz: bytes } : { bpe: bytes };
  } else if (typeof values["tokenizer-json"] === "string") {
    files = { tokenizerJson: read(values["tokenizer-json"]) };
  } else if (typeof values.vocab === "string" || typeof values.merges === "string") {
    if (typeof values.vocab !== "string" || typeof values.merges !== "string") fail("--vocab and --merges go together");
    files = { vocab: read(values.vocab), merges: read(values.merges) };
  }
  return files ? ClipTokenizer.fromFiles(files) : ClipTokenizer.load();
}

async function readStdinLines(): Promise<string[]> {
  if (process.stdin.isTTY) fail("no text given (pass it as arguments or on standard input; --help for usage)");
  const lines: string[] = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) lines.push(line);
  return lines;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        rows: { type: "boolean" },
        "context-length": { type: "string" },
        truncate: { type: "boolean" },
        decode: { type: "boolean" },
        json: { type: "boolean" },
        bpe: { type: "string" },
        vocab: { type: "string" },
        merges: { type: "string" },
        "tokenizer-json": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message} (--help for usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) return void process.stdout.write(`${HELP}\n`);
  if (values.version) {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    return void process.stdout.write(`${pkg.version}\n`);
  }

  const tok = await loadTokenizer(values);
  const print = (object: Record<string, unknown>, lines: string[]): void => {
    process.stdout.write(values.json ? `${JSON.stringify(object)}\n` : `${lines.join("\n")}\n`);
  };

  if (values.decode) {
    const ids = positionals.flatMap((p) => p.split(/[\s,[\]]+/).filter(Boolean)).map(Number);
    if (ids.length === 0) fail("--decode needs ids");
    const text = tok.decode(ids);
    return print({ ids, text }, [text]);
  }

  const texts = positionals.length > 0 ? positionals : await readStdinLines();
  const contextLength = values["context-length"] === undefined ? DEFAULT_CONTEXT_LENGTH : Number(values["context-length"]);
  for (const [i, text] of texts.entries()) {
    if (values.rows) {
      const row = Array.from(tok.tokenize([text], { contextLength, truncate: values.truncate ?? false }));
      print({ text, row }, [`${i > 0 ? "\n" : ""}text:   ${JSON.stringify(text)}`, `row:    [${row.join(", ")}]`]);
    } else {
      const ids = tok.encode(text);
      const tokens = tok.idsToTokens(ids);
      print({ text, ids, tokens }, [
        `${i > 0 ? "\n" : ""}text:   ${JSON.stringify(text)}`,
        `ids:    [${ids.join(", ")}]`,
        `tokens: [${tokens.map((t) => JSON.stringify(t)).join(", ")}]`,
      ]);
    }
  }
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
