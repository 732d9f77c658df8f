"""What the corpus voices say: English sentences from Debian `fortunes` and a small generator, short sentence
lists for other languages, and sung / held-vowel lines.

English lines are kept only when every word is in pocketsphinx's dictionary, because the non-espeak voices get
their phone timings from forced alignment, which cannot align a word it cannot pronounce.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

FORTUNES_DIR = Path("/usr/share/games/fortunes")
# Pictures, dictionaries of jokes about words and untranslated lines do not read as speech.
SKIPPED_FORTUNE_FILES = frozenset({"art", "ascii-art", "definitions", "translate-me", "perl", "zippy"})
MIN_WORDS = 4
MAX_WORDS = 24

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ALLOWED = re.compile(r"^[A-Za-z ,.;:!?'\-]+$")


@lru_cache(maxsize=1)
def pronounceable_words() -> frozenset[str]:
    """Lower-case words the English forced aligner knows."""
    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            word = line.split(" ", 1)[0]
            words.add(word.split("(", 1)[0])   # "read(2)" is an alternative pronunciation of "read"
    return frozenset(words)


def clean_english(line: str) -> str | None:
    """One readable sentence, or None when it is too short/long or holds symbols, digits or unknown words."""
    line = " ".join(line.replace("--", ", ").replace("\"", "").replace("`", "'").split())
    line = line.strip(" '")
    if not line or not _ALLOWED.match(line):
        return None
    words = _WORD.findall(line)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    if sum(w.isupper() and len(w) > 1 for w in words) > 1:   # shouting and acronyms read as letter strings
        return None
    known = pronounceable_words()
    if any(w.lower() not in known for w in words):
        return None
    return line if line[-1] in ".!?" else line + "."


def fortune_sentences(fortunes_dir: Path = FORTUNES_DIR) -> list[str]:
    """Sentences from every fortunes file present, cleaned and deduplicated, in a stable order."""
    if not fortunes_dir.is_dir():
        return []
    sentences: dict[str, None] = {}
    for path in sorted(fortunes_dir.iterdir()):
        if path.suffix or path.name in SKIPPED_FORTUNE_FILES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for fortune in text.split("\n%\n"):
            # Attribution lines ("-- Mark Twain") and indented verse layout are not part of the sentence.
            lines = [ln for ln in fortune.splitlines() if not ln.strip().startswith("--")]
            for sentence in _SENTENCE_END.split(" ".join(lines)):
                cleaned = clean_english(sentence)
                if cleaned:
                    sentences[cleaned] = None
    return list(sentences)


# A small grammar for generated English: varied openings, bilabials, rounded vowels and questions, so the
# corpus does not depend on one source's style.
_SUBJECTS = ("my brother", "the old baker", "a tired pilot", "our neighbour", "the teacher", "every player",
             "the little boy", "my mother", "the quiet woman", "that funny man", "the captain", "nobody")
_VERBS = ("bought", "found", "painted", "moved", "opened", "carried", "borrowed", "played with", "looked at",
          "fixed", "wanted", "forgot")
_OBJECTS = ("a blue boat", "the broken window", "twelve purple balloons", "a map of the bumpy path",
            "the heavy box", "a bowl of warm soup", "the shiny spoon", "a bag of apples", "the wooden chair",
            "a very small puppy", "the morning paper", "the yellow umbrella")
_ENDINGS = ("before the movie began", "in the middle of the night", "without saying a word", "at the market",
            "after lunch", "for the whole family", "by the river", "just in time", "on a rainy Monday",
            "because it was cheap", "while we were away", "near the bridge")
_TEMPLATES = ("{s} {v} {o} {e}.", "Why has {s} {v} {o} {e}?", "Maybe {s} {v} {o}.", "Look, {s} {v} {o}!",
              "I think {s} {v} {o} {e}.", "Did you know that {s} {v} {o} {e}?")


def generated_sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        line = template.format(s=_SUBJECTS[rng.integers(len(_SUBJECTS))], v=_VERBS[rng.integers(len(_VERBS))],
                               o=_OBJECTS[rng.integers(len(_OBJECTS))], e=_ENDINGS[rng.integers(len(_ENDINGS))])
        out.append(line[0].upper() + line[1:])
    return out


# Short everyday sentences written for this project, per espeak-ng language code.
OTHER_LANGUAGE_SENTENCES: dict[str, tuple[str, ...]] = {
    "de": ("Guten Morgen, wie geht es dir heute?", "Der Zug nach Berlin hat leider zehn Minuten Verspätung.",
           "Wir gehen am Wochenende in den Bergen wandern.", "Kannst du mir bitte das Brot und die Butter geben?",
           "Meine Schwester wohnt seit drei Jahren in München.", "Das Wetter ist heute wunderbar warm und sonnig.",
           "Ich habe vergessen, wo ich meinen Schlüssel hingelegt habe.", "Morgen beginnt die große Messe.",
           "Die Kinder spielen im Garten mit dem kleinen Hund.", "Bitte schließen Sie die Tür hinter sich.",
           "Um wie viel Uhr fängt das Konzert an?", "Mein Bruder backt jeden Sonntag einen Kuchen."),
    "fr": ("Bonjour, je voudrais un café et un croissant, s'il vous plaît.", "Il fait très beau aujourd'hui.",
           "Nous partons en vacances au bord de la mer.", "Mon père lit le journal tous les matins.",
           "Pourquoi est-ce que le bus est encore en retard?", "La boulangerie ouvre à sept heures du matin.",
           "Elle a perdu son parapluie bleu dans le métro.", "Les enfants jouent au ballon dans le parc.",
           "Peux-tu m'aider à porter cette boîte?", "Le musée est fermé le lundi.",
           "Je pense que nous allons manquer le train.", "Ma grand-mère prépare une soupe de poisson."),
    "es": ("Buenos días, ¿cómo estás hoy?", "El mercado abre a las ocho de la mañana.",
           "Mi hermano compró una bicicleta nueva ayer.", "Vamos a la playa el próximo fin de semana.",
           "¿Puedes pasarme la sal, por favor?", "La película empieza a las nueve en punto.",
           "Mi madre prepara una paella muy buena.", "Los niños juegan en el parque con el perro.",
           "Perdí mis llaves en el autobús esta mañana.", "El museo está cerrado los lunes.",
           "Me gustaría un vaso de agua, por favor.", "Mañana tenemos una reunión importante."),
    "it": ("Buongiorno, vorrei un caffè per favore.", "Il treno per Milano parte tra dieci minuti.",
           "Mia nonna prepara la pasta ogni domenica.", "Andiamo al mare questo fine settimana.",
           "Puoi aprire la finestra, per piacere?", "Il museo apre alle nove del mattino.",
           "Mio padre legge il giornale in cucina.", "I bambini giocano a pallone nel parco.",
           "Ho perso l'ombrello sull'autobus.", "Questa sera mangiamo una pizza insieme.",
           "Quanto costa questo biglietto?", "La biblioteca è chiusa il lunedì."),
    "pt-br": ("Bom dia, tudo bem com você?", "O ônibus para o centro está atrasado hoje.",
              "Minha mãe faz um bolo de milho delicioso.", "Vamos à praia no próximo sábado.",
              "Você pode me passar o pão, por favor?", "O mercado abre às oito da manhã.",
              "Meu irmão comprou uma bicicleta azul.", "As crianças brincam no parque com o cachorro.",
              "Perdi minhas chaves no metrô.", "O museu fica fechado às segundas-feiras.",
              "Quanto custa esse livro?", "Amanhã vamos visitar os nossos avós."),
    "hi": ("नमस्ते, आप कैसे हैं?", "आज मौसम बहुत अच्छा है।", "मेरा भाई कल बाज़ार गया था।",
           "कृपया मुझे एक गिलास पानी दीजिए।", "बच्चे पार्क में खेल रहे हैं।", "ट्रेन दस मिनट देर से आएगी।",
           "मेरी माँ बहुत अच्छा खाना बनाती हैं।", "हम रविवार को पहाड़ों पर जाएंगे।",
           "यह किताब कितने की है?", "कल सुबह हमारी एक ज़रूरी बैठक है।"),
    "nl": ("Goedemorgen, hoe gaat het met je?", "De trein naar Amsterdam is tien minuten te laat.",
           "Mijn moeder bakt elke zondag een appeltaart.", "We gaan dit weekend fietsen langs de rivier.",
           "Kun je mij het brood even aangeven?", "Het museum is op maandag gesloten.",
           "De kinderen spelen met de bal in het park.", "Ik ben mijn paraplu vergeten.",
           "Hoe laat begint de film vanavond?", "Mijn broer woont al drie jaar in Utrecht."),
    "pl": ("Dzień dobry, jak się masz?", "Pociąg do Krakowa jest spóźniony.", "Moja mama piecze pyszne ciasto.",
           "W sobotę pojedziemy nad morze.", "Czy możesz podać mi chleb?", "Muzeum jest zamknięte w poniedziałek.",
           "Dzieci bawią się w parku z psem.", "Zgubiłem klucze w autobusie.",
           "O której zaczyna się koncert?", "Mój brat kupił nowy rower."),
}


def other_language_sentences(language: str) -> tuple[str, ...]:
    try:
        return OTHER_LANGUAGE_SENTENCES[language]
    except KeyError:
        raise ValueError(f"no sentences for language {language!r}; have {sorted(OTHER_LANGUAGE_SENTENCES)}")


# Sung and held-vowel lines: syllables espeak-ng reads as words. The builder slows them down and bends their
# pitch (sox tempo/bend), which gives long vowels with glides: the open, sustained mouth shapes speech lacks.
SUNG_LINES: tuple[str, ...] = ("la la la laa", "oh oh oh", "ah ah aah", "mmm ah", "ooh la la", "na na na na",
                               "hey ya hey", "do re mi fa so", "ee ah oo", "ma ma mia", "yeah yeah yeah",
                               "lo la lee", "oh my love", "la dee da", "who ooh", "aah eeh ooh")


@lru_cache(maxsize=1)
def english_sentences(seed: int = 0) -> tuple[str, ...]:
    """The English pool: every usable fortune plus as many generated lines again (at least 400)."""
    fortunes = fortune_sentences()
    return tuple(fortunes) + tuple(generated_sentences(max(400, len(fortunes)), seed))
