"""The motion model: a PCA expression latent and an audio-conditioned diffusion transformer over windows of it.

`latent.py` maps motion frames ↔ latent, `conditioning.py` turns audio features and controls into model inputs,
`denoiser.py` is the network with its EDM preconditioning, `weights.py` saves and loads the versioned file."""
