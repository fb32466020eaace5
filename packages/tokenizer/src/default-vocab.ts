/**
 * CLIP's vocabulary, OpenAI's `bpe_simple_vocab_16e6.txt.gz` (1.36 MB, from github.com/openai/CLIP, MIT licence),
 * embedded as bytes. This module is only reached through a dynamic import, so bundlers put it in its own chunk
 * that loads when `ClipTokenizer.load()` is first called.
 */
import bytes from "../data/bpe_simple_vocab_16e6.txt.gz";

export const BPE_SIMPLE_VOCAB_16E6_GZ: Uint8Array = bytes;
