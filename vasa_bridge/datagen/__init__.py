"""Training corpus: many voices speak many lines; the teacher performs each; augmentation; shards + manifest."""

from vasa_bridge.datagen.build import BuildConfig, build_corpus
from vasa_bridge.datagen.corpus import Corpus, CorpusItem
from vasa_bridge.datagen.throughput import corpus_throughput

__all__ = ["BuildConfig", "build_corpus", "Corpus", "CorpusItem", "corpus_throughput"]
