/**
 * @proj/clip — skeleton only. Nothing is implemented yet; see README.md and issue #5.
 *
 * Planned: the ViT and ModifiedResNet image encoders and the text transformer at parity with OpenAI's reference, `.safetensors` loading of OpenAI/open_clip and Hugging Face checkpoints, exact preprocessing, zero-shot classification (`encodeText`, `encodeImage`, `classify`) and contrastive training (issues #5 and #8).
 */
export {};
