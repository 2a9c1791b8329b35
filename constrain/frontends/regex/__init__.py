"""Regular expressions (ECMA-262 and Python dialects) compiled to byte DFAs.

``regex_to_dfa(pattern)`` returns a :class:`~constrain.automata.ByteDFA` over the *encoded*
bytes of the strings the pattern matches:

* ``encoding="utf8"``: raw UTF-8 text (surrogates U+D800-DFFF never match);
* ``encoding="json"``: the content of a JSON string literal, without the quotes. A character
  may be written literally (UTF-8) unless it is ``"``, ``\\`` or a control character, or
  escaped (``\\n``, ``\\"``, ``\\/``, ``\\u00e9`` in either hex case, surrogate pairs for
  astral characters). ``[a-z]`` therefore also accepts ``\\u0061``.
* ``encoding="json-canonical"``: JSON string content in its one canonical spelling, the one
  ``json.dumps(s, ensure_ascii=False)`` writes: ``\\"``, ``\\\\`` and ``\\b \\f \\n \\r \\t`` for those
  characters, ``\\u00xx`` (lowercase hex) for the other control characters, every other
  character as itself. ``[a-z]`` accepts ``a`` only, never ``\\u0061``; no ``\\/``.

Pipeline (:mod:`.syntax`, :mod:`.charsets`, :mod:`.compile`): our own parser builds a character-level AST (:class:`Chars` nodes hold sorted
code-point intervals, so Unicode classes stay small); each character set is lowered once to
a minimized byte DFA for the encoding (UTF-8 range splitting; JSON adds escapes whose hex
digits come from an exact base-16 range split) and embedded into a Thompson NFA, which is
determinized and minimized by :mod:`constrain.automata`.
Finite sets of fixed strings (property names, ``enum`` values) skip the pipeline:
:func:`literal_set_dfa` (:mod:`.literals`) builds their DFA directly as a minimal trie of
the same per-character spellings.

Zero-width assertions (``^ $ \\b \\B``, multiline anchors, lookarounds) are compiled exactly,
as marker symbols intersected with context automata (:mod:`.compile` says how and why).

Supported: literals and escapes (``\\n \\t \\r \\f \\v \\0 \\xHH \\uHHHH \\u{H..} \\cX``, Python
``\\a \\UHHHHHHHH \\N{name}`` and octal), ``.``, classes with ranges/negation/escapes (ECMA
``[]`` and ``[^]``), ``\\d \\D \\w \\W \\s \\S`` per dialect, ``\\p{..}``/``\\P{..}`` general
categories (one- and two-letter, long names, ``gc=``, ``Any``, ``ASCII``, ``Assigned``),
groups (capturing, ``(?:)``, named, ``(?#..)``), alternation, greedy/lazy quantifiers, anchors
``^ $ \\A \\Z`` and word boundaries anywhere, flags ``i s m x`` (+ Python ``a``) globally at
the start or scoped ``(?i:..)``, lookahead/lookbehind of any width anywhere.

Raises :class:`RegexError` (with the position): syntax errors, backreferences (not regular),
possessive quantifiers and atomic groups (would change the language), conditionals, Unicode
scripts and other non-category properties, and -- inside a lookaround body -- anchors or
word boundaries looking out of the body's side of the string (``^``/``\\b`` or a lookbehind
inside a lookahead; ``$``/``\\b`` or a lookahead inside a lookbehind).
"""

from .charsets import ENCODINGS, any_char_dfa, charset_dfa
from .compile import regex_to_dfa
from .literals import literal_dfa, literal_set_dfa
from .syntax import DIALECTS, Alt, Assert, Chars, Look, Repeat, Seq, parse_regex

__all__ = ["Alt", "Assert", "Chars", "DIALECTS", "ENCODINGS", "Look", "Repeat", "Seq", "any_char_dfa", "charset_dfa",
           "literal_dfa", "literal_set_dfa", "parse_regex", "regex_to_dfa"]
