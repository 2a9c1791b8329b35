"""``Speculation``: what a caller asks of speculative decoding, checked once.

Why a frozen dataclass and not keyword arguments of ``generate``: the same settings reach
``generate``, ``decode.sample`` and the CLI, and a bad value should fail before any forward
pass with an error that names it (``GenerationArgumentError("speculative", ...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..result import GenerationArgumentError
from .suffix import SuffixStore

__all__ = ["DRAFT_SOURCES", "Speculation", "as_speculation"]

#: the draft sources known by name, in the order a caller would usually want them
DRAFT_SOURCES = ("grammar", "ngram", "recycling", "suffix", "model")


@dataclass(frozen=True)
class Speculation:
    """Settings of speculative decoding with grammar-legal drafts.

    ``drafts``: the draft sources, asked in this order at every drafted position (the first
    one that proposes a legal token wins): ``"grammar"`` (the canonical tokenization of the
    bytes the grammar forces), ``"ngram"`` (prompt lookup: what followed the latest
    occurrence of the last few tokens, in the prompt or the output so far), ``"recycling"``
    (token recycling: the best legal token among the model's top candidates after the
    previous token, from earlier passes), or objects with the ``DraftSource`` interface.
    The default asks all three: recycling fills positions (a value's ``": `` spacing, a
    repeated structure) where neither the grammar nor the text so far has a guess.
    ``max_draft``: most drafted tokens per row and model pass; tokens the grammar forces
    outright (a one-token mask) are certain and do not count.  ``adaptive``: shorten a row's
    draft by one after a rejection (not below 2) and lengthen it by two after a fully accepted
    draft (up to ``max_draft``), as a vLLM or SGLang user would expect from adaptive lengths
    (:meth:`next_length`).  Why gentle steps and 12, not halving and 8: a rejected draft costs
    a few fed tokens, not a pass (on SmolLM2 on one CPU thread a pass over 12 tokens costs
    about twice one over 1), and on the 30 MaskBench greedy outputs replayed through the real
    drafter halving was what kept drafts short (docs/benchmarks.md, speculative section,
    session 11).  A draft is not cut short on the product of per-source acceptance rates:
    acceptances come in runs, and on replayed MaskBench outputs that cut-off cost more passes
    than it saved work (session 10).
    ``min_pass``: a pass feeds at least this many tokens per row when it feeds more than one:
    the drafter goes past the adaptive length (within ``max_draft``) and, when the sources run
    out, the chunk is padded with masked-out positions that are cropped after the pass.  Why:
    with fp32 matrix products on a CPU a 2- or 3-row product is slower than a 4-row one
    (SmolLM2 on one thread: a pass over 2 or 3 new tokens ~90-100 ms, over 4 ~80 ms, over 1
    ~55 ms), so filling the pass is free.  1 turns it off.
    ``siblings``: the most alternative tokens fed, besides the draft, for the position after
    it (the first one nobody drafted), making the draft a tree
    (:mod:`decode.speculative.tree`): all the tokens the mask allows there when they are that
    few, else the model's best legal candidates after the draft's last token from earlier
    passes.  When the target's token there is one of them, the pass has computed the law
    after it too and yields one more token.  Why: a pass of 4-8 new tokens costs about what
    one of 2-4 does on a CPU, and a third of the passes have no draft to fill it.  0 (the
    default): linear drafts only; a replay of the 30 MaskBench greedy outputs priced 3 siblings
    at the root at 7% fewer passes but wider ones, -0.5% decode time (docs/benchmarks.md,
    session 13), not enough to make the 4D attention mask every model must accept the default.
    ``ngram``: the longest n-gram that prompt lookup tries to match (down to 1).
    ``draft_model``: a small model sharing the target's tokenizer (a Hugging Face causal LM,
    or any ``decode.TokenLM`` over the same vocabulary) whose masked greedy guesses become
    the ``"model"`` source (:class:`~decode.speculative.model_draft.ModelDraft`); it is
    appended to ``drafts`` unless ``drafts`` names ``"model"`` where it should be asked.
    ``history``: a :class:`~decode.speculative.suffix.SuffixStore` of earlier generations'
    outputs, shared across calls (a server keeps one per model), whose continuation of the
    longest matching suffix becomes the ``"suffix"`` source (SuffixDecoding; vLLM's ``suffix``
    method); inserted after ``"ngram"`` (else at the end, before ``"model"``) unless ``drafts``
    names ``"suffix"``.  ``decode.generate`` adds each finished output to it; ``decode.sample``
    only reads it.  Why after prompt lookup: the request's own text is the better guess where
    it has one; on the 30 MaskBench greedy outputs replayed with the store holding the earlier
    tasks' outputs, the store filled 140 of 238 draftless passes and cut passes by 10%, while
    asked first it cost 35% more passes (docs/benchmarks.md, session 15).

    Whatever the drafts, the output law is that of non-speculative masked sampling, and
    greedy output is token-for-token the same (ALGORITHMS.md section 3.2).
    """

    drafts: tuple = ("grammar", "ngram", "recycling")
    max_draft: int = 12
    adaptive: bool = True
    ngram: int = 3
    draft_model: object = None
    min_pass: int = 4
    siblings: int = 0
    history: object = None

    def __post_init__(self):
        drafts = self.drafts
        if isinstance(drafts, str) or not isinstance(drafts, (tuple, list)):
            raise GenerationArgumentError("speculative", f"drafts must be a tuple of sources, got {drafts!r}")
        if not drafts:
            raise GenerationArgumentError("speculative", "drafts is empty: give at least one draft source")
        names = []
        for d in drafts:
            if isinstance(d, str):
                if d not in DRAFT_SOURCES:
                    raise GenerationArgumentError("speculative", f"unknown draft source {d!r}; known: "
                                                  f"{', '.join(DRAFT_SOURCES)}")
                names.append(d)
            elif callable(getattr(d, "propose", None)):
                names.append(getattr(d, "name", type(d).__name__))
            else:
                raise GenerationArgumentError("speculative", f"a draft source is a name ({', '.join(DRAFT_SOURCES)}) "
                                              f"or an object with .propose(context, k), got {d!r}")
        if self.draft_model is not None:
            dm = self.draft_model
            if not (callable(getattr(dm, "logprobs", None)) or callable(getattr(dm, "forward", None))):
                raise GenerationArgumentError("speculative", f"draft_model must be a Hugging Face causal LM or a "
                                              f"decode.TokenLM, got {type(dm).__name__}")
            if "model" not in names:
                drafts, names = (*drafts, "model"), [*names, "model"]
        elif "model" in names:
            raise GenerationArgumentError("speculative", "the draft source 'model' needs draft_model=")
        if self.history is not None:
            if not isinstance(self.history, SuffixStore):
                raise GenerationArgumentError("speculative", f"history must be a decode.SuffixStore, got "
                                              f"{type(self.history).__name__}")
            if "suffix" not in names:
                at = names.index("ngram") + 1 if "ngram" in names else len(names) - ("model" in names)
                drafts, names = (*drafts[:at], "suffix", *drafts[at:]), [*names[:at], "suffix", *names[at:]]
        elif "suffix" in names:
            raise GenerationArgumentError("speculative", "the draft source 'suffix' needs history= (a SuffixStore)")
        if len(set(names)) != len(names):
            raise GenerationArgumentError("speculative", f"draft sources repeat: {names}")
        object.__setattr__(self, "drafts", tuple(drafts))
        for field_name, value in (("max_draft", self.max_draft), ("ngram", self.ngram), ("min_pass", self.min_pass)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GenerationArgumentError("speculative", f"{field_name} must be an integer >= 1, got {value!r}")
        if isinstance(self.siblings, bool) or not isinstance(self.siblings, int) or self.siblings < 0:
            raise GenerationArgumentError("speculative", f"siblings must be an integer >= 0, got {self.siblings!r}")
        if not isinstance(self.adaptive, bool):
            raise GenerationArgumentError("speculative", f"adaptive must be True or False, got {self.adaptive!r}")

    def next_length(self, length: int, accepted: int, drafted: int) -> int:
        """A row's draft length after a pass that kept ``accepted`` of its ``drafted`` tokens."""
        if not self.adaptive or not drafted:
            return length
        if accepted < drafted:
            return max(min(2, self.max_draft), length - 1)
        return min(self.max_draft, length + 2)

    @property
    def draft_names(self) -> tuple[str, ...]:
        """The names of ``drafts``."""
        return tuple(d if isinstance(d, str) else getattr(d, "name", type(d).__name__) for d in self.drafts)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Every source whose tokens are counted: ``drafts``, then ``"siblings"`` when on."""
        return self.draft_names + ("siblings",) if self.siblings else self.draft_names

    def __repr__(self) -> str:  # a model's repr is pages long
        dm = "" if self.draft_model is None else f", draft_model=<{type(self.draft_model).__name__}>"
        hs = "" if self.history is None else f", history=<SuffixStore of {len(self.history)} tokens>"
        return (f"Speculation(drafts={self.draft_names!r}, max_draft={self.max_draft}, adaptive={self.adaptive}, "
                f"ngram={self.ngram}, min_pass={self.min_pass}, siblings={self.siblings}{dm}{hs})")


def as_speculation(value) -> Speculation | None:
    """``speculative=`` as given to ``generate`` / ``sample``: None, a bool or a ``Speculation``."""
    if value is None or value is False:
        return None
    if value is True:
        return Speculation()
    if isinstance(value, Speculation):
        return value
    raise GenerationArgumentError("speculative", f"must be True, False or a decode.Speculation, got {value!r}")
