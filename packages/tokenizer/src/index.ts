/**
 * @proj/tokenizer — OpenAI CLIP's byte-level BPE tokenizer, identical to the reference `simple_tokenizer` and
 * `clip.tokenize`, with Hugging Face vocabulary formats and a BPE trainer. No tensor dependency: rows are
 * `Int32Array`s.
 */

// Tokenizer
export { ClipTokenizer, DEFAULT_CONTEXT_LENGTH } from "./clip-tokenizer.js";
export type { ClipTokenizerOptions, SavedVocabulary, TokenizeOptions } from "./clip-tokenizer.js";

// Training a vocabulary
export { trainBpe } from "./trainer.js";
export type { TrainBpeOptions } from "./trainer.js";

// Text cleanup (the steps `encode` runs before BPE)
export { cleanText } from "./text-cleanup.js";
export { fixText } from "./ftfy.js";
export { unescapeHtml } from "./html.js";
export { pretokenize } from "./pretokenize.js";

// Vocabularies and their file formats
export {
  CLIP_MERGE_COUNT,
  END_OF_TEXT,
  END_OF_WORD,
  START_OF_TEXT,
  VocabularyFormatError,
  clipVocabularyFromMerges,
  parseTokenizerFiles,
} from "./vocabulary.js";
export type { BpeVocabulary, FileData, TokenizerFiles } from "./vocabulary.js";
