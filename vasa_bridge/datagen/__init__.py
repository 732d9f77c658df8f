"""Training corpus: many voices speak many lines; the teacher performs each; augmentation; shards + manifest."""

from vasa_bridge.datagen.build import BuildConfig, build_corpus
from vasa_bridge.datagen.corpus import Corpus, CorpusItem

__all__ = ["BuildConfig", "build_corpus", "Corpus", "CorpusItem"]
