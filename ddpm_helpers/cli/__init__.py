"""Command lines that sit apart from the library: the shipped weights (``pretrained``), the student and
instructor editions (``editions``) and the slide decks (``slides``). Run them with ``python -m``."""
