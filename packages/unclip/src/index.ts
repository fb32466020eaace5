/**
 * @proj/unclip — skeleton only. Nothing is implemented yet; see README.md and issue #7.
 *
 * Planned: noise schedules, DDPM/DDIM schedulers, the U-Net decoder conditioned on CLIP image embeddings, the diffusion prior, training loops and the image-manipulation API (`sample`, variations, blends, looping animations, text-to-image) (issues #7 and #8).
 */
export {};
