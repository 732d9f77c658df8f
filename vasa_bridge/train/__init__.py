"""Training and evaluation of the motion model: `data.py` builds (audio, teacher motion) pairs and samples
windows, `loop.py` trains (resumable, tqdm, curves), `evaluate.py` measures lip sync and liveliness."""
