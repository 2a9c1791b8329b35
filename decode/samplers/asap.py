"""ASAp: grammar-aligned sampling that learns, across draws, where the language still has mass.

Park, Wang, Berg-Kirkpatrick, Polikarpova, D'Antoni, "Grammar-Aligned Decoding" (NeurIPS
2024); ALGORITHMS.md section 2.  Token masking draws each token from ``p(a|w) m(a)``
renormalised, as if every legal continuation were equally likely to end well; its sequence
law is ``p(y) / prod_t Z_t``, not ``pi(y) = p(y) 1[y in L] / Z``.  Exact sampling of ``pi``
draws ``a`` after a prefix ``w`` with probability ``p(a|w) EFG(wa) / EFG(w)``, where the
*expected future grammaticality* ``EFG(w) = sum_s p(s|w) 1[ws in L]`` is intractable.  ASAp
replaces ``EFG`` by an over-approximation ``EFG~`` learned from its own samples:

- a trie of the token prefixes it has sampled; each node keeps the model's **unmasked**
  next-token probabilities ``p(a|w)`` of the tokens the constraint allows there (storing the
  masked, renormalised ones would count the mask twice) and ``EFG~(wa)`` of each of them;
- a token never tried counts ``EFG~ = 1`` (optimistic), a token the constraint forbids counts
  exactly 0 (it is never stored), an EOS the constraint allows counts exactly 1;
- after each sample, ``EFG~(w) = sum_a p(a|w) EFG~(wa)`` is recomputed bottom-up along its
  path (and kept if lower: estimates only fall).

So ``EFG~ >= EFG`` always, the first draw is token masking, and once every prefix reachable
with positive probability is in the trie, ``EFG~ = EFG`` and draws follow ``pi`` exactly.
The draws are *not* independent: each is a proposal shaped by the ones before it.

The budget is part of the language: an output has at most ``max_new_tokens`` tokens, EOS
included, so at the last position only EOS is allowed (``pi`` is over outputs that fit, as
for ``decode.sample``'s weighted methods), and a prefix with no allowed token of positive
probability is a dead end (``EFG~ = 0`` exactly; the draw restarts from the root, having
learned it).

Memory (``max_nodes``, ``max_bytes``).  A node stores a token id and two floats per allowed
token (20 bytes: a node where half of a 50k vocabulary is legal costs ~0.5 MB; one in a small
grammar, a few hundred bytes).  Above ``max_nodes`` nodes or ``max_bytes`` bytes, the least
recently visited *leaves* are evicted after each draw; what a leaf had learned survives in its
parent, which keeps the leaf's ``EFG~`` (a value stored in the parent, not in the leaf), so an
eviction never raises an estimate or forgets a dead end: it only costs a forward pass if the
prefix is drawn again, and below it estimates restart from 1.

Cost: one LM call per *new* prefix; a token drawn at a prefix already in the trie costs no
forward pass (``trie_hits``).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch

from ..result import GenerationArgumentError
from .samples import Samples, check_arguments

__all__ = ["GrammarAligned"]

#: the ``save`` file's format name and version
FORMAT = "structgen-asap-trie"
FORMAT_VERSION = 1
#: how far the probabilities at the root may move between ``save`` and ``load`` (float32
#: forward passes batched differently) before the trie is judged to be another model's or prompt's
ROOT_ATOL = 1e-4
#: bytes counted per node besides its arrays (the object, its slots, its children dict, the
#: array headers, its entry in the recency list; measured ~600 on CPython 3.12)
NODE_OVERHEAD = 600


class _Node:
    """A prefix ``w`` in the trie, expanded (the model and the constraint asked there once).

    ``ids``: the tokens allowed after ``w`` with positive probability (ascending, EOS included
    when ``w`` may end); ``p``: their unmasked model probabilities; ``efg``: ``EFG~(wa)`` of
    each (1 until learned; EOS stays 1); ``kids``: slot -> child node for the children in the
    trie; ``parent``/``slot``: where this node's own ``EFG~`` lives (``parent.efg[slot]``).
    """

    __slots__ = ("ids", "p", "efg", "kids", "parent", "slot")

    def __init__(self, ids: np.ndarray, p: np.ndarray, parent: "_Node | None", slot: int):
        self.ids = ids
        self.p = p
        self.efg = np.ones(len(ids), dtype=np.float64)
        self.kids: dict[int, _Node] = {}
        self.parent = parent
        self.slot = slot

    def estimate(self) -> float:
        """``sum_a p(a|w) EFG~(wa)``: what the children say about ``EFG(w)``."""
        return float(self.p @ self.efg)

    def nbytes(self) -> int:
        """Memory held: the three arrays and a fixed allowance for the object and its dict."""
        return self.ids.nbytes + self.p.nbytes + self.efg.nbytes + NODE_OVERHEAD

    def find(self, token: int) -> int:
        """The slot of ``token`` in ``ids``, or -1 when it is not allowed here."""
        j = int(np.searchsorted(self.ids, token))
        return j if j < len(self.ids) and int(self.ids[j]) == token else -1


class GrammarAligned:
    """ASAp over one prompt and one constraint: repeated draws converge to ``pi``.

    ``lm``: a :class:`decode.TokenLM`; ``prompt_ids``: the context; ``constraint``: a
    ``constrain.Compiled`` over the LM's vocabulary (ASAp needs full masks, so no
    ``Predicate``).  ``max_new_tokens``: tokens per output, EOS included (part of the
    language, see the module doc); ``temperature`` (> 0): the model's next-token laws are
    tempered before anything is stored, so the target is the tempered model restricted to the
    language.  ``max_nodes`` / ``max_bytes``: the trie's memory bounds (least recently visited
    leaves are evicted after a draw; learned estimates survive in their parents); ``max_restarts``:
    dead ends one draw may meet before it is given up (returned unfinished, weight 0).

    Use :meth:`sample` repeatedly (each call continues learning), :meth:`efg` and
    :meth:`next_token_law` to inspect what it has learned, :meth:`observe` to learn from an
    output drawn elsewhere, :meth:`save` / :meth:`load` to resume a long run.  The draws are
    not i.i.d.: each one is shaped by every draw before it.
    """

    def __init__(self, lm, prompt_ids: Sequence[int], constraint, *, max_new_tokens: int = 64,
                 temperature: float = 1.0, max_nodes: int = 1_000_000, max_bytes: int = 1 << 31,
                 max_restarts: int = 100):
        # decode.sample's checks; n, ess_threshold and proposal do not apply here (neutral values)
        self.prompt = check_arguments(lm, prompt_ids, constraint, "asap", 1, max_new_tokens, temperature,
                                      ess_threshold=0.5, proposal="awrs")
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
            raise GenerationArgumentError("max_nodes", f"must be an integer >= 1, got {max_nodes!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise GenerationArgumentError("max_bytes", f"must be an integer >= 1, got {max_bytes!r}")
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise GenerationArgumentError("max_restarts", f"must be an integer >= 0, got {max_restarts!r}")
        self.lm = lm
        self.vocab = lm.vocab
        self.constraint = constraint
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.max_nodes = max_nodes
        self.max_bytes = max_bytes
        #: bytes the trie's nodes hold (their arrays plus a fixed per-node overhead)
        self.trie_bytes = 0
        self.max_restarts = max_restarts
        self._eos = np.asarray(self.vocab.eos_ids, dtype=np.int64)
        self._eos_set = frozenset(self._eos.tolist())
        self._root: _Node | None = None
        self._root_efg = 1.0
        self._recency: OrderedDict[_Node, None] = OrderedDict()  # least recently visited first
        #: draws so far (all calls), and the counters of this object's whole life
        self.samples_drawn = 0
        self.totals = {"forward_calls": 0, "tokens_drawn": 0, "restarts": 0, "evictions": 0}

    # ------------------------------------------------------------------ the trie

    @property
    def num_nodes(self) -> int:
        return len(self._recency)

    def _expand(self, tokens: list[int], matcher, parent: _Node | None, slot: int) -> _Node:
        """One forward pass and one mask at a new prefix: its allowed tokens and their unmasked
        probabilities (tempered), only EOS at the budget's last position."""
        row = self.lm.logprobs([self.prompt + tokens])
        self.totals["forward_calls"] += 1
        logp = row[0].detach().to("cpu", torch.float64).numpy()[: self.vocab.size]
        if self.temperature != 1.0:
            z = logp / self.temperature
            m = np.max(z)
            logp = z - (m + np.log(np.exp(z - m).sum()))
        ids = self.vocab.mask_to_ids(matcher.mask())
        if len(tokens) + 1 >= self.max_new_tokens:
            ids = ids[np.isin(ids, self._eos)]
        p = np.exp(logp[ids])
        keep = p > 0
        node = _Node(ids[keep].astype(np.int32), p[keep], parent, slot)
        if parent is None:
            self._root = node
        else:
            parent.kids[slot] = node
        self._recency[node] = None
        self.trie_bytes += node.nbytes()
        return node

    def _child(self, node: _Node, slot: int, tokens: list[int], matcher) -> _Node:
        """The child at ``slot`` (``tokens`` and ``matcher`` already include its token)."""
        kid = node.kids.get(slot)
        return kid if kid is not None else self._expand(tokens, matcher, node, slot)

    def _root_node(self) -> _Node:
        return self._root if self._root is not None else self._expand([], self.constraint.matcher(), None, -1)

    def _update(self, path: list[_Node]) -> None:
        """``EFG~(w) = sum_a p(a|w) EFG~(wa)`` bottom-up along ``path`` (root first), never
        raising an estimate; then mark the path visited, leaf first, so that an ancestor is
        always more recent than its descendants (the least recent node is a leaf)."""
        for node in reversed(path):
            v = node.estimate()
            if node.parent is None:
                self._root_efg = min(self._root_efg, v)
            else:
                node.parent.efg[node.slot] = min(float(node.parent.efg[node.slot]), v)
        for node in reversed(path):
            self._recency.move_to_end(node)

    def _evict(self) -> int:
        """Drop least recently visited leaves until the trie is within ``max_nodes`` and
        ``max_bytes`` (the root stays).  Their ``EFG~`` stays in their parents."""
        evicted = 0
        while len(self._recency) > self.max_nodes or self.trie_bytes > self.max_bytes:
            victim = next((nd for nd in self._recency if nd.parent is not None and not nd.kids), None)
            if victim is None:
                break
            del self._recency[victim]
            self.trie_bytes -= victim.nbytes()
            del victim.parent.kids[victim.slot]
            victim.parent = None
            evicted += 1
        self.totals["evictions"] += evicted
        return evicted

    # ------------------------------------------------------------------ the proposal

    @staticmethod
    def _law(node: _Node) -> tuple[np.ndarray, float]:
        """ASAp's unnormalised proposal at ``node``: ``p(a|w) EFG~(wa)``, and its sum."""
        q = node.p * node.efg
        return q, float(q.sum())

    def _draw(self, rng: np.random.Generator) -> tuple[list[int], bool]:
        """One output: walk from the root drawing from the proposal, learn from the path."""
        for _ in range(self.max_restarts + 1):
            if self._root_efg <= 0:
                break
            matcher = self.constraint.matcher()
            node, tokens, path = self._root_node(), [], []
            path.append(node)
            while True:
                q, total = self._law(node)
                if total <= 0:  # a dead end: every allowed continuation is known to fail
                    self._update(path)
                    self.totals["restarts"] += 1
                    break
                cdf = np.cumsum(q)
                j = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(q) - 1)
                tok = int(node.ids[j])
                self.totals["tokens_drawn"] += 1
                if tok in self._eos_set:
                    self._update(path)
                    return tokens, True
                if not matcher.advance(tok):  # the stored mask and the matcher disagree: a bug
                    raise RuntimeError(f"ASAp drew token {tok}, which the constraint refuses after {tokens}")
                tokens.append(tok)
                node = self._child(node, j, tokens, matcher)
                path.append(node)
        return [], False

    def sample(self, n: int = 1, *, seed: int | None = None) -> Samples:
        """Draw ``n`` outputs one after another, each learning from the ones before it.

        Returns :class:`decode.Samples` (``method="asap"``, draws in order; unfinished only
        when the language has no mass left under the model within the budget, or a draw met
        ``max_restarts`` dead ends).  ``stats``: this call's ``forward_calls`` (new prefixes),
        ``tokens_drawn`` (EOS included), ``trie_hits`` (``tokens_drawn - forward_calls``: the
        forward passes a sampler without the trie would have made), ``restarts``, ``evictions``, ``masks_computed`` (= ``forward_calls``), and
        ``trie_nodes`` / ``trie_bytes`` / ``root_efg`` (the estimate of ``Z``, an upper bound)
        after the call.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise GenerationArgumentError("n", f"must be an integer >= 1, got {n!r}")
        t0 = time.perf_counter()
        before = dict(self.totals)
        rng = np.random.default_rng(seed)
        token_ids, finished = [], []
        for _ in range(n):
            toks, done = self._draw(rng)
            token_ids.append(toks)
            finished.append(done)
            self.samples_drawn += 1
            self._evict()
        stats = {k: self.totals[k] - before[k] for k in self.totals}
        stats.update(trie_hits=max(stats["tokens_drawn"] - stats["forward_calls"], 0),
                     masks_computed=stats["forward_calls"], tokens_checked=0, resamples=0,
                     trie_nodes=self.num_nodes, trie_bytes=self.trie_bytes, root_efg=self._root_efg,
                     seconds=time.perf_counter() - t0)
        texts = [self.vocab.decode_bytes(ids).decode("utf-8", errors="replace") for ids in token_ids]
        return Samples(token_ids=token_ids, texts=texts, log_weights=[0.0 if f else -math.inf for f in finished],
                       finished=finished, log_ml=None, method="asap", stats=stats)

    # ------------------------------------------------------------------ inspection

    def _tokens(self, token_ids, argument: str = "token_ids") -> list[int]:
        if isinstance(token_ids, (str, bytes)):
            raise GenerationArgumentError(argument, f"must be a sequence of token ids, got {type(token_ids).__name__}")
        toks = [int(t) for t in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        if any(not 0 <= t < self.vocab.size for t in toks):
            raise GenerationArgumentError(argument, f"ids must be in [0, {self.vocab.size})")
        return toks

    def _walk(self, tokens: list[int]) -> list[_Node] | None:
        """The trie path of a prefix, expanding what is missing (forward passes, no learning);
        ``None`` when a token is not allowed (or has probability 0) where it stands."""
        matcher = self.constraint.matcher()
        path = [self._root_node()]
        for i, tok in enumerate(tokens):
            j = path[-1].find(tok)
            if j < 0 or tok in self._eos_set:
                return None
            matcher.advance(tok)
            path.append(self._child(path[-1], j, tokens[: i + 1], matcher))
        for node in reversed(path):
            self._recency.move_to_end(node)
        return path

    def next_token_law(self, token_ids: Sequence[int] = ()) -> dict[int, float]:
        """ASAp's current next-token law after the prefix ``token_ids``: ``{token: prob}``.

        ``p(a|w) EFG~(wa) / sum``; empty when the prefix is a known dead end.  Expands missing
        prefixes (forward passes) but learns nothing: the next draw is unaffected.  Raises
        :class:`GenerationArgumentError` for a prefix the constraint (or the model) rules out.
        """
        tokens = self._tokens(token_ids)
        path = self._walk(tokens)
        if path is None:
            raise GenerationArgumentError("token_ids", f"{tokens} is not a prefix the constraint allows "
                                                       f"(with positive model probability)")
        q, total = self._law(path[-1])
        self._evict()
        if total <= 0:
            return {}
        return {int(t): float(x) for t, x in zip(path[-1].ids.tolist(), q / total) if x > 0}

    def efg(self, token_ids: Sequence[int] = ()) -> float:
        """The current estimate ``EFG~`` of a prefix: an upper bound on the probability that
        the model, continuing it, writes an output in the language (within the budget).

        1 for a legal prefix the trie has not reached, 0 for one the constraint rules out;
        ``efg([])`` bounds ``Z``; a complete output followed by EOS has 1.  Reads the trie
        only (no forward pass).
        """
        tokens = self._tokens(token_ids)
        if self._root is None:
            return 1.0 if self._legal(tokens) else 0.0
        node, value = self._root, self._root_efg
        for i, tok in enumerate(tokens):
            j = node.find(tok)
            if j < 0:
                return 0.0
            value = float(node.efg[j])
            if tok in self._eos_set:
                return value if i == len(tokens) - 1 else 0.0
            kid = node.kids.get(j)
            if kid is None:  # below the trie: the stored value bounds this prefix only
                if i == len(tokens) - 1:
                    return value
                return 1.0 if value > 0 and self._legal(tokens) else 0.0
            node = kid
        return value

    def _legal(self, tokens: list[int]) -> bool:
        """The constraint allows ``tokens`` as a prefix (EOS only last) within the budget."""
        m = self.constraint.matcher()
        for i, tok in enumerate(tokens):
            if not m.advance(tok):
                return False
            if tok in self._eos_set and i != len(tokens) - 1:
                return False
        ended = bool(tokens) and tokens[-1] in self._eos_set
        return len(tokens) <= self.max_new_tokens - (0 if ended else 1)

    def observe(self, token_ids: Sequence[int]) -> None:
        """Learn from a complete output (EOS excluded) as if it had been drawn: expand its
        prefixes and update the estimates along its path.  Any path is a valid lesson (the
        estimates stay upper bounds); :meth:`sample` does exactly this after each draw."""
        tokens = self._tokens(token_ids)
        path = self._walk(tokens)
        if path is None or not any(path[-1].find(int(e)) >= 0 for e in self._eos.tolist()):
            raise GenerationArgumentError("token_ids", f"{tokens} is not a complete output the constraint "
                                                       f"allows within {self.max_new_tokens} tokens")
        self._update(path)
        self._evict()

    # ------------------------------------------------------------------ persistence

    def _meta(self) -> dict:
        source = getattr(self.constraint, "source", None)
        return {"format": FORMAT, "version": FORMAT_VERSION, "prompt_ids": self.prompt,
                "vocab_size": int(self.vocab.size), "vocab_fingerprint": getattr(self.vocab, "fingerprint", None),
                "constraint": (f"{getattr(self.constraint, 'kind', '')}:{source}"
                               if isinstance(source, (str, bytes, dict, list)) else None),
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "samples_drawn": self.samples_drawn, "root_efg": self._root_efg}

    def save(self, path: str | os.PathLike) -> None:
        """Write the trie (every node's tokens, probabilities, estimates; the visit order) to
        ``path`` as a numpy ``.npz`` file (no pickle), written atomically."""
        nodes = list(self._recency)  # least recently visited first
        index = {id(nd): i for i, nd in enumerate(nodes)}
        lengths = np.array([len(nd.ids) for nd in nodes], dtype=np.int64)
        arrays = {
            "meta": np.array(json.dumps(self._meta())),
            "parent": np.array([index[id(nd.parent)] if nd.parent is not None else -1 for nd in nodes], np.int64),
            "slot": np.array([nd.slot for nd in nodes], dtype=np.int64),
            "lengths": lengths,
            "ids": np.concatenate([nd.ids for nd in nodes]) if nodes else np.zeros(0, np.int32),
            "p": np.concatenate([nd.p for nd in nodes]) if nodes else np.zeros(0),
            "efg": np.concatenate([nd.efg for nd in nodes]) if nodes else np.zeros(0),
        }
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)

    def load(self, path: str | os.PathLike) -> "GrammarAligned":
        """Replace this sampler's trie with the one :meth:`save` wrote; returns ``self``.

        The file must come from the same prompt, vocabulary, constraint, budget and temperature
        (checked; a :class:`GenerationArgumentError` names the first mismatch), and the same
        model: the probabilities stored at the root are compared with a fresh forward pass.
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
            meta = json.loads(str(data["meta"]))
        except (OSError, ValueError, KeyError) as e:
            raise GenerationArgumentError("path", f"{os.fspath(path)!r} is not an ASAp trie file: {e}") from None
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise GenerationArgumentError("path", f"{os.fspath(path)!r} is not a version-{FORMAT_VERSION} ASAp trie "
                                                  f"file (format {meta.get('format')!r}, version {meta.get('version')!r})")
        mine = self._meta()
        for key in ("prompt_ids", "vocab_size", "vocab_fingerprint", "constraint", "max_new_tokens", "temperature"):
            if meta.get(key) != mine[key] and not (key == "constraint" and None in (meta.get(key), mine[key])):
                raise GenerationArgumentError("path", f"the trie in {os.fspath(path)!r} was built for another {key}: "
                                                      f"{_short(meta.get(key))} (this sampler: {_short(mine[key])})")
        nodes: list[_Node] = []
        start = 0
        for n in data["lengths"].tolist():
            stop = start + n
            nd = _Node(data["ids"][start:stop].astype(np.int32), data["p"][start:stop].copy(), None, -1)
            nd.efg = data["efg"][start:stop].copy()
            nodes.append(nd)
            start = stop
        root = None
        for nd, parent, slot in zip(nodes, data["parent"].tolist(), data["slot"].tolist()):
            if parent < 0:
                root = nd
            else:
                nd.parent, nd.slot = nodes[parent], slot
                nodes[parent].kids[slot] = nd
        if root is not None:
            fresh = self.lm.logprobs([self.prompt])[0].detach().to("cpu", torch.float64).numpy()[: self.vocab.size]
            self.totals["forward_calls"] += 1
            if self.temperature != 1.0:
                z = fresh / self.temperature
                fresh = z - (np.max(z) + np.log(np.exp(z - np.max(z)).sum()))
            gap = float(np.max(np.abs(np.exp(fresh[root.ids]) - root.p))) if len(root.ids) else 0.0
            if gap > ROOT_ATOL:
                raise GenerationArgumentError("path", f"the trie in {os.fspath(path)!r} was built with another model "
                                                      f"(next-token probabilities at the root differ by {gap:.3g})")
        self._root = root
        self._root_efg = float(meta["root_efg"])
        self._recency = OrderedDict((nd, None) for nd in nodes)
        self.trie_bytes = sum(nd.nbytes() for nd in nodes)
        self.samples_drawn = int(meta["samples_drawn"])
        self._evict()
        return self

    def copy(self) -> "GrammarAligned":
        """An independent sampler with the same trie (the LM and the constraint are shared)."""
        return copy.deepcopy(self, memo={id(self.lm): self.lm, id(self.constraint): self.constraint,
                                         id(self.vocab): self.vocab})

    def __repr__(self) -> str:
        return (f"GrammarAligned({self.num_nodes} trie nodes, {self.samples_drawn} samples drawn, "
                f"EFG~(root)={self._root_efg:.4g})")


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
