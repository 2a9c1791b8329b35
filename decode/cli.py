"""``structgen`` console script.

Why a CLI: the quickest way to see a constraint at work on a real model (and to script
structured extraction from a shell) without writing Python.

Exit status: 0 a complete output; 1 an output that ran out of tokens (printed, and said so on
stderr), or for ``sample``, no sample that finished; 2 a user error (bad schema, file, option, model name...), reported as one line
``structgen: error: <message>`` on stderr, never a traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

__all__ = ["main", "build_parser"]

EPILOG = """\
examples:
  structgen generate --schema examples/person.json "Invent a person."
  structgen generate --pydantic examples.mymodels:Recipe --temperature 0 "A pancake recipe."
  structgen generate --regex '\\d{3}-\\d{4}' --no-chat "Phone: "
  structgen generate --regex '(yes|no|maybe)' --sampler smc --particles 8 --seed 0 "Is water wet?"
  structgen generate --schema examples/person.json --speculative "Invent a person."
  structgen sample --regex '(yes|no|maybe)' --method asap -n 200 --seed 0 -o answers.jsonl "Is water wet?"
  structgen sample --no-model --method asap -n 20     # a hand-made 5-token LM, no model, in a second
  structgen bench maskbench "$DATA/maskbench" --tokenizer smollm2
  structgen bench test-suite "$DATA/json-schema-test-suite" --json /tmp/ts.json
  structgen bench coverage "$DATA/maskbench" --from /tmp/mb.json --plots docs/img
  structgen bench generate "$DATA/maskbench" --model default --sample 100 --json /tmp/gen.json
  structgen generate --regex '//[a-z.]+' --no-chat --heal-prompt "Visit http:"
  structgen repair --schema examples/person.json draft.txt   # a draft from another model, made valid
  structgen chat --tools examples/tools.py "What is 17 times 23, plus 4?"
  structgen serve --port 8000 --max-batch 8   # OpenAI-compatible API (needs structgen[serve])
  structgen bench serve --threads 1  # serving throughput and latency at 1, 4, 16 clients
  structgen bench bfcl --sample 10  # BFCL function calling, constrained vs not (needs bfcl-eval's data)
  structgen bench throughput        # decoding throughput, constrained vs not (also: python -m decode.bench)
DATA: a folder with JSONSchemaBench's maskbench/ and the JSON Schema Test Suite (see README.md).
"""


def _add_constraint_options(p: argparse.ArgumentParser) -> None:
    """The constraint flags of every command that takes one (read back by ``_load_constraint``)."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--schema", metavar="FILE", help="JSON Schema file ('-' reads stdin)")
    src.add_argument("--pydantic", metavar="MODULE:CLASS", help="Pydantic model class, e.g. myapp.models:Person")
    src.add_argument("--regex", metavar="PATTERN", help="regular expression the whole output must match")
    src.add_argument("--grammar", metavar="FILE", help="Lark grammar file")


def _add_canonical_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--canonical-tokens", action="store_true",
                   help="allow only the tokenizer's own (canonical) tokenization of the output: no spelling the "
                        "tokenizer never writes, such as 'order' + 'Id' for 'orderId' (compile option "
                        "canonical_tokens=True; BPE tokenizers; see the README's 'Canonical tokenizations only')")


def _compile_canonical(constraint, model, tok, json_options):
    """The constraint compiled with ``canonical_tokens=True`` for ``model``'s vocabulary (for
    the samplers that take canonical tokens only through a ``Compiled``)."""
    from .constraints import as_compiled, constraint_kind, generation_json_options, get_vocabulary
    from .lm import logits_width

    vocab = get_vocabulary(tok, logits_width(model))
    opts = generation_json_options(json_options) if constraint_kind(constraint) in ("json", "lark") else {}
    return as_compiled(constraint, vocab, **opts, canonical_tokens=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="structgen",
        description="Structured generation: outputs that always match a JSON schema, regex or grammar.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser(
        "generate", help="generate constrained text from a prompt",
        description="Generate text constrained by a JSON schema, Pydantic model, regex or Lark grammar. "
                    "The output goes to stdout; progress messages go to stderr.",
    )
    _add_constraint_options(g)
    _add_canonical_option(g)
    g.add_argument("prompt", help="the prompt (sent as a user chat message unless --no-chat)")
    g.add_argument("--model", default="smollm2",
                   help="HF model id or local path (default: the bundled SmolLM2-135M-Instruct)")
    g.add_argument("--max-new-tokens", type=int, default=256, metavar="N",
                   help="token budget of the output (default: 256)")
    g.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="0 = greedy (the default with --sampler masked; 1 with smc/awrs, which need T > 0)")
    g.add_argument("--sampler", choices=("masked", "smc", "awrs"), default="masked",
                   help="masked: token masking, each token from the masked next-token law (default). "
                        "smc / awrs: weighted particles that target the constrained distribution itself "
                        "(p(y) restricted to the constraint, renormalised); the output is one draw from "
                        "their weighted posterior. See decode.generate")
    g.add_argument("--particles", type=int, default=None, metavar="N",
                   help="particles for --sampler smc / awrs (default: 8)")
    g.add_argument("--proposal", choices=("awrs", "masked"), default=None,
                   help="--sampler smc's proposal: awrs (default; checks only sampled tokens) or masked "
                        "(exact weights from the full mask)")
    g.add_argument("--ess-threshold", type=float, default=None, metavar="X",
                   help="--sampler smc resamples when the effective sample size falls below X times the "
                        "particles (default: 0.5)")
    g.add_argument("--speculative", action="store_true",
                   help="speculative decoding with grammar-legal drafts (lossless: the same output law, greedy "
                        "output token-identical; fewer model passes); --sampler masked only, no penalties")
    g.add_argument("--drafts", default=None, metavar="SOURCES",
                   help="with --speculative: comma-separated draft sources in order (grammar, ngram, recycling; "
                        "default grammar,ngram,recycling)")
    g.add_argument("--max-draft", type=int, default=None, metavar="N",
                   help="with --speculative: most drafted tokens per model pass (default 12)")
    g.add_argument("--draft-model", default=None, metavar="PATH|default",
                   help="with --speculative: a draft model sharing --model's tokenizer (HF id or local path; "
                        "default: the bundled SmolLM2-135M-Instruct); its masked greedy guesses are verified "
                        "like any draft (source 'model', asked after --drafts unless --drafts names it)")
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=None, metavar="S")
    g.add_argument("--system", default=None, help="system message for the chat template")
    g.add_argument("--no-chat", action="store_true", help="use the prompt as raw text (no chat template)")
    g.add_argument("--timings", action="store_true", help="print timings to stderr")
    g.add_argument("--frequency-penalty", type=float, default=None, metavar="F",
                   help="lower each token's logit by F times its count in the output so far (OpenAI's "
                        "meaning). Default: 0.5 with --schema/--pydantic, where small models otherwise loop "
                        "inside unbounded strings and run out of tokens; 0 otherwise, and always 0 with "
                        "--sampler smc/awrs (which refuse penalties)")
    g.add_argument("--presence-penalty", type=float, default=0.0, metavar="P",
                   help="lower the logit of every token already in the output by P (default: 0)")
    g.add_argument("--finish-within-budget", action=argparse.BooleanOptionalAction, default=None,
                   help="when the tokens left only just cover the grammar's shortest completion, append it "
                        "so the output is complete and valid (default: on; --no-finish-within-budget lets "
                        "the output run out of tokens instead; off with --sampler smc/awrs, which refuse it)")
    g.add_argument("--heal-prompt", action="store_true",
                   help="token healing: take the prompt's last tokens off where a longer token could cross the "
                        "boundary and make the output start with their bytes (useful with --no-chat and a prompt "
                        "ending mid-word, e.g. 'http:'); the output printed is what follows the prompt")
    g.add_argument("--no-strict", action="store_true",
                   help="let the output carry properties the schema does not declare (schemas are compiled "
                        "with decode.GENERATION_JSON_OPTIONS: strict, canonical strings (no needless escapes), nothing "
                        "after the value, one line break per whitespace run)")

    sp = sub.add_parser(
        "sample", help="draw many outputs from the constrained distribution (JSONL)",
        description="Draw N outputs for one prompt under a constraint and write them as JSON lines (one per "
                    "sample, in draw order: index, text, token_ids, finished, log_weight). --method asap "
                    "(grammar-aligned sampling) learns from each draw so that their law converges to the model's "
                    "distribution restricted to the constraint; masked is token masking; awrs / smc are weighted "
                    "(see log_weight). Statistics go to stderr.",
    )
    _add_constraint_options(sp)
    _add_canonical_option(sp)
    sp.add_argument("prompt", nargs="?", default=None,
                    help="the prompt (sent as a user chat message unless --no-chat; not with --no-model)")
    sp.add_argument("--method", choices=("asap", "masked", "smc", "awrs"), default="asap",
                    help="asap: grammar-aligned draws, each learning from the ones before (default); masked: "
                         "token masking; awrs / smc: importance-weighted samples / one SMC run of N particles")
    sp.add_argument("-n", type=int, default=100, metavar="N", help="samples (particles for smc; default 100)")
    sp.add_argument("--seed", type=int, default=None, metavar="S")
    sp.add_argument("--temperature", type=float, default=1.0, metavar="T", help="default 1 (the model's law)")
    sp.add_argument("--max-new-tokens", type=int, default=64, metavar="N",
                    help="token budget of each output, EOS included (default: 64)")
    sp.add_argument("--model", default="smollm2", help="HF model id or local path (default: SmolLM2-135M-Instruct)")
    sp.add_argument("--system", default=None, help="system message for the chat template")
    sp.add_argument("--no-chat", action="store_true", help="use the prompt as raw text (no chat template)")
    sp.add_argument("--no-model", action="store_true",
                    help="a hand-made 5-token LM (tokens a, b, ab, c) instead of a model, constraint --regex "
                         "(default '[ab]{1,3}') or --grammar: the README's toy, in a second")
    sp.add_argument("--trie", metavar="FILE", default=None,
                    help="--method asap: resume from the trie in FILE if it exists, and save it there after (a "
                         "long run over several commands)")
    sp.add_argument("-o", "--output", metavar="FILE", default=None, help="write the JSON lines there (default: stdout)")
    rp = sub.add_parser(
        "repair", help="rewrite a draft (e.g. another model's output) into a valid output close to it",
        description="Rewrite DRAFT (a file, '-' for stdin) into text the constraint accepts, staying close to "
                    "the draft (decode.repair: the local model sees the draft and is steered to copy it where "
                    "that is legal). The repaired text goes to stdout, its edit distance to the draft to stderr.",
    )
    _add_constraint_options(rp)
    rp.add_argument("draft", help="the draft file ('-' reads stdin)")
    rp.add_argument("--model", default="smollm2",
                    help="HF model id or local path (default: the bundled SmolLM2-135M-Instruct)")
    rp.add_argument("--method", choices=("sketch", "prompt"), default="sketch",
                    help="sketch: the draft in the prompt and as a copy source (default); prompt: in the prompt only")
    rp.add_argument("--copy-bonus", type=float, default=8.0, metavar="B",
                    help="logit bonus of a token that copies the draft (default 8)")
    rp.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                    help="token budget (default: twice the draft's tokens plus 32)")
    rp.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (the default)")
    rp.add_argument("--seed", type=int, default=None, metavar="S")
    rp.add_argument("--json", action="store_true",
                    help="print {text, edit_distance, copied, method} as JSON instead of the text")

    c = sub.add_parser(
        "chat", help="run an agent that may call the Python functions of a file",
        description="Ask a question; the model may call the functions defined in --tools (each call "
                    "schema-valid, run with validated arguments, its result fed back) until it answers. "
                    "The answer goes to stdout; each call and its result go to stderr.",
    )
    c.add_argument("question")
    c.add_argument("--tools", required=True, metavar="FILE",
                   help="Python file: its TOOLS list if it defines one, else every public function defined in it")
    c.add_argument("--model", default="smollm2",
                   help="HF model id or local path (default: the bundled SmolLM2-135M-Instruct)")
    c.add_argument("--system", default=None, help="system message (the tool list is added for templates without one)")
    c.add_argument("--max-steps", type=int, default=8, metavar="N", help="at most N model turns (default: 8)")
    c.add_argument("--max-new-tokens", type=int, default=256, metavar="N", help="token budget per turn (default: 256)")
    c.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (the default)")
    c.add_argument("--seed", type=int, default=None, metavar="S")
    c.add_argument("--tool-choice", choices=("auto", "required", "none"), default="auto",
                   help="the first turn's tool choice (later turns: auto). auto: the model decides (default); "
                        "required: it starts with a call (small models such as SmolLM2-135M rarely call unasked)")
    c.add_argument("--json", action="store_true", help="print the whole result (answer, calls, transcript) as JSON")

    sv = sub.add_parser(
        "serve", help="an OpenAI-compatible HTTP server with continuous batching (needs structgen[serve])",
        description="Serve /v1/chat/completions (response_format json_schema/json_object, tools, stream), "
                    "/v1/completions, /v1/models and /health; concurrent requests are decoded in one batch.",
    )
    sv.add_argument("--model", default="default",
                    help="'default' (the bundled SmolLM2-135M-Instruct), an HF model id or a local path")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument("--max-batch", type=int, default=8, metavar="N", help="rows decoded together at most (default: 8)")
    sv.add_argument("--max-tokens", type=int, default=512, metavar="N",
                    help="a request's token budget when it sets none (default: 512, capped by the context)")
    sv.add_argument("--compile-budget", type=float, default=10.0, metavar="S",
                    help="seconds a constraint may take to compile; past it the request gets a 400 (default: 10)")
    sv.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads")
    sv.add_argument("--speculative", action="store_true",
                    help="decode requests speculatively with grammar-legal drafts unless they send "
                         "\"speculative\": false (lossless: greedy outputs are the same tokens)")
    sv.add_argument("--max-draft", type=int, default=None, metavar="N",
                    help="with --speculative: most drafted tokens per row and pass (default: 12)")
    sv.add_argument("--speculative-disable-batch", type=int, default=None, metavar="N",
                    help="with --speculative: a pass of N rows or more drafts for none of them (vLLM's "
                         "speculative_disable_by_batch_size; on a CPU several rows already fill a pass)")
    sv.add_argument("--speculative-suffix", type=int, nargs="?", const=100_000, default=None, metavar="TOKENS",
                    help="with --speculative: also draft from earlier requests' outputs (one SuffixStore of at "
                         "most TOKENS tokens, default 100000, shared by every speculative request)")
    sv.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    b = sub.add_parser(
        "bench", help="benchmarks (the `python -m decode.bench` CLI, run in-process)", add_help=False,
        description="Passes all arguments to the `python -m decode.bench` CLI, in this process.",
    )
    b.add_argument("args", nargs=argparse.REMAINDER)
    return p


#: CLI default frequency penalty for JSON outputs (see --frequency-penalty's help): with it,
#: SmolLM2-135M finished 20/20 schemas of tests/e2e/test_e2e_maskbench.py within 256 greedy tokens,
#: 13/20 within 160 without (docs/json_schema.md)
JSON_FREQUENCY_PENALTY = 0.5


class UsageError(Exception):
    """A mistake in what the user gave the CLI (a file, an option value): one line, exit 2."""


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read(path: str, what: str) -> bytes:
    """The bytes of ``path`` ('-': stdin), or a UsageError naming the file and the reason."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path!r}: {e.strerror or e}") from None


def _load_pydantic(spec: str):
    mod_name, _, cls_name = spec.partition(":")
    if not mod_name or not cls_name:
        raise UsageError(f"--pydantic expects MODULE:CLASS (e.g. mymodels:Person), got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any failure of the user's module is theirs to fix
        raise UsageError(f"--pydantic {spec}: cannot import module {mod_name!r}: {type(e).__name__}: {e}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise UsageError(f"--pydantic {spec}: module {mod_name!r} has no attribute {cls_name!r}")
    if not (isinstance(cls, type) and hasattr(cls, "model_json_schema")):
        raise UsageError(f"--pydantic {spec}: {cls_name!r} is not a Pydantic model class")
    try:
        cls.model_json_schema()
    except Exception as e:  # noqa: BLE001 - e.g. a field type Pydantic cannot put in a schema
        raise UsageError(f"--pydantic {spec}: no JSON schema for {cls_name}: {type(e).__name__}: {e}") from None
    return cls


def _load_constraint(args):
    import decode
    from constrain import SchemaError
    from constrain.frontends.json_schema import normalize_schema_input

    if args.schema:
        try:
            return normalize_schema_input(_read(args.schema, "schema file"))
        except SchemaError as e:
            raise SchemaError(f"{'stdin' if args.schema == '-' else args.schema}: {e}") from None
    if args.pydantic:
        return _load_pydantic(args.pydantic)
    if args.regex is not None:
        return decode.Regex(args.regex)
    if args.grammar:
        data = _read(args.grammar, "grammar file")
        try:
            return decode.Lark(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise UsageError(f"grammar file {args.grammar!r} is not UTF-8 text (byte {data[e.start]:#04x} "
                             f"at offset {e.start})") from None
    return None


def _load_model(name: str):
    import decode

    try:
        if name in ("smollm2", "default"):
            return decode.load_default_model(progress=_progress)
        return decode.load_model(name, progress=_progress)
    except (OSError, ValueError) as e:  # not found (offline, a typo), not a causal LM...
        raise UsageError(f"cannot load model {name!r}: {e}") from None


def _load_draft_model(args, model, tok):
    """--draft-model: the target itself when both name the same model (no second copy), else
    a model whose tokenizer must be the target's."""
    default = ("smollm2", "default", "SmolLM2-135M-Instruct")
    if args.draft_model == args.model or (args.draft_model in default and args.model in default):
        return model
    draft, draft_tok = _load_model(args.draft_model)
    if draft_tok.get_vocab() != tok.get_vocab():
        raise UsageError(f"--draft-model {args.draft_model}: its tokenizer differs from --model {args.model}'s "
                         f"(a draft model must share the target's tokenizer)")
    return draft


def _cmd_generate(args) -> int:
    import decode

    masked = args.sampler == "masked"
    if masked and args.particles is not None:
        raise UsageError("--particles needs --sampler smc or --sampler awrs (token masking draws one sample)")
    for flag, value in (("--proposal", args.proposal), ("--ess-threshold", args.ess_threshold)):
        if value is not None and args.sampler != "smc":
            raise UsageError(f"{flag} needs --sampler smc")
    if (args.drafts is not None or args.max_draft is not None or args.draft_model is not None) \
            and not args.speculative:
        raise UsageError("--drafts / --max-draft / --draft-model need --speculative")
    speculative = None
    if args.speculative:
        fields = {}
        if args.drafts is not None:
            fields["drafts"] = tuple(d.strip() for d in args.drafts.split(",") if d.strip())
        if args.max_draft is not None:
            fields["max_draft"] = args.max_draft
        if args.draft_model is None and "model" in fields.get("drafts", ()):
            raise UsageError("--drafts model needs --draft-model")
        # a bad value raises GenerationArgumentError (with a draft model: once it is loaded)
        speculative = fields if args.draft_model is not None else decode.Speculation(**fields)
    constraint = _load_constraint(args)
    # the defaults that suit token masking are options a weighted sampler refuses: they only
    # apply to it when given explicitly (and then generate says why they cannot)
    freq = args.frequency_penalty
    if freq is None:
        # (speculative decoding refuses penalties: its drafts would change the penalised target)
        freq = JSON_FREQUENCY_PENALTY if (masked and not args.speculative and (args.schema or args.pydantic)) else 0.0
    finish = args.finish_within_budget if args.finish_within_budget is not None else masked
    temperature = args.temperature if args.temperature is not None else (0.0 if masked else 1.0)
    weighted = {} if masked else {"sampler": args.sampler,
                                  "particles": args.particles if args.particles is not None else 8}
    weighted.update({k: v for k, v in (("proposal", args.proposal), ("ess_threshold", args.ess_threshold))
                     if v is not None})
    model, tok = _load_model(args.model)
    if isinstance(speculative, dict):
        speculative = decode.Speculation(**speculative, draft_model=_load_draft_model(args, model, tok))
    if speculative is not None:
        weighted["speculative"] = speculative
    if args.no_chat:
        prompt = args.prompt
    else:
        prompt = ([{"role": "system", "content": args.system}] if args.system else []) + [
            {"role": "user", "content": args.prompt}
        ]
    json_options = {"strict": False} if getattr(args, "no_strict", False) else None
    canonical = {}
    if args.canonical_tokens:
        if constraint is None:
            raise UsageError("--canonical-tokens needs a constraint: --schema, --pydantic, --regex or --grammar")
        if masked:
            canonical = {"canonical_tokens": True}
        else:  # the weighted samplers take canonical tokens through a Compiled
            constraint = _compile_canonical(constraint, model, tok, json_options)
    _progress("structgen: generating ...")
    try:
        r = decode.generate(model, tok, prompt, constraint, max_new_tokens=args.max_new_tokens,
                            temperature=temperature, top_p=args.top_p, top_k=args.top_k,
                            seed=args.seed, frequency_penalty=freq, presence_penalty=args.presence_penalty,
                            finish_within_budget=finish, heal_prompt=args.heal_prompt,
                            json_options=json_options, **canonical, **weighted)
    except NotImplementedError as e:
        raise UsageError(str(e)) from None
    print(r.text)
    if args.timings:
        print(json.dumps({**r.timings, **r.stats}, indent=2), file=sys.stderr)
    if not masked and args.timings:  # the particles behind the draw, heaviest first
        post = sorted(r.samples.posterior().items(), key=lambda kv: -kv[1])
        print(json.dumps({"posterior": dict(post), "log_ml": r.samples.log_ml}, indent=2), file=sys.stderr)
    if not r.finished:
        hint = ("raise --max-new-tokens, or drop --no-finish-within-budget" if masked else
                "no particle ended within --max-new-tokens; raise it, or --particles")
        print(f"structgen: output incomplete: it ran out of tokens after {args.max_new_tokens} ({hint})",
              file=sys.stderr)
        return 1
    return 0


#: the --no-model toy of ``structgen sample`` (README, examples/sampling.py): token bytes and the
#: probabilities of a, b, ab, c, EOS; outputs starting with ``a`` are likely at first but nearly dead
TOY_TOKENS = [b"a", b"b", b"ab", b"c", None]


def _toy_next_token(ctx):
    if not ctx:
        return [0.4, 0.2, 0.2, 0.1, 0.1]
    if ctx[0] in (0, 2):
        return [0.04, 0.04, 0.02, 0.85, 0.05]
    return [0.2, 0.2, 0.2, 0.1, 0.3]


def _sample_target(args):
    """(lm, prompt ids, compiled constraint) for ``structgen sample``."""
    import decode
    from constrain import Vocabulary, compile_lark, compile_regex

    if args.no_model:
        if args.schema or args.pydantic:
            raise UsageError("--no-model takes --regex or --grammar (its toy vocabulary cannot spell JSON)")
        if args.prompt is not None:
            raise UsageError("--no-model takes no prompt (the toy LM has none)")
        vocab = Vocabulary.from_token_bytes(TOY_TOKENS, eos_ids=[4])
        if args.grammar:
            data = _read(args.grammar, "grammar file")
            compiled = compile_lark(data.decode("utf-8", errors="replace"), vocab)
        else:
            compiled = compile_regex(args.regex if args.regex is not None else "[ab]{1,3}", vocab)
        if args.canonical_tokens:
            raise UsageError("--canonical-tokens needs a model's BPE tokenizer (the --no-model toy has none)")
        return decode.TableLM(vocab, _toy_next_token), [], compiled
    constraint = _load_constraint(args)
    if constraint is None:
        raise UsageError("sample needs a constraint: --schema, --pydantic, --regex or --grammar (or --no-model)")
    if args.prompt is None:
        raise UsageError("sample needs a prompt (or --no-model)")
    from .constraints import as_compiled, generation_json_options, get_vocabulary
    from .lm import logits_width
    from .prompts import encode_prompt

    model, tok = _load_model(args.model)
    vocab = get_vocabulary(tok, logits_width(model))
    compiled = as_compiled(constraint, vocab, **generation_json_options(None),
                           **({"canonical_tokens": True} if args.canonical_tokens else {}))
    if args.no_chat:
        prompt = encode_prompt(tok, args.prompt)
    else:
        prompt = encode_prompt(tok, ([{"role": "system", "content": args.system}] if args.system else [])
                               + [{"role": "user", "content": args.prompt}])
    return decode.HFTokenLM(model, tok, vocab=vocab), prompt, compiled


def _cmd_sample(args) -> int:
    import math

    import decode

    if args.trie and args.method != "asap":
        raise UsageError("--trie needs --method asap (only ASAp learns across runs)")
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, got {args.n}")
    lm, prompt, compiled = _sample_target(args)
    _progress(f"structgen: sampling {args.n} ({args.method}) ...")
    if args.method == "asap":
        ga = decode.GrammarAligned(lm, prompt, compiled, max_new_tokens=args.max_new_tokens,
                                   temperature=args.temperature)
        if args.trie and os.path.exists(args.trie):
            ga.load(args.trie)
            _progress(f"structgen: resumed the trie in {args.trie} ({ga.num_nodes} nodes, "
                      f"{ga.samples_drawn} samples drawn before)")
        s = ga.sample(args.n, seed=args.seed)
        if args.trie:
            ga.save(args.trie)
    else:
        s = decode.sample(lm, prompt, compiled, method=args.method, n=args.n, max_new_tokens=args.max_new_tokens,
                          temperature=args.temperature, seed=args.seed)
    lines = [json.dumps({"index": i, "text": t, "token_ids": ids, "finished": f,
                         "log_weight": w if math.isfinite(w) else None}, ensure_ascii=False)
             for i, (t, ids, f, w) in enumerate(zip(s.texts, s.token_ids, s.finished, s.log_weights))]
    text = "\n".join(lines) + "\n"
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"cannot write {args.output!r}: {e.strerror or e}") from None
    else:
        sys.stdout.write(text)
    stats = {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in s.stats.items()}
    unfinished = len(s) - sum(s.finished)
    _progress(f"structgen: {len(s)} samples ({args.method}), {unfinished} unfinished; {json.dumps(stats)}")
    if unfinished == len(s):
        print(f"structgen: no sample finished within --max-new-tokens {args.max_new_tokens} (the constraint may "
              f"have no output the model can write; or raise --max-new-tokens)", file=sys.stderr)
        return 1
    return 0


def _error(message: str) -> int:
    """One line on stderr, exit status 2 (argparse's convention for usage errors)."""
    line = " ".join(str(message).split()) or "unknown error"
    line = line.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates in schemas
    print(f"structgen: error: {line}", file=sys.stderr, flush=True)
    return 2


def _load_tools(path: str) -> list:
    """The tools of a Python file: its ``TOOLS`` list, else the public functions defined in it."""
    import importlib.util
    import inspect

    _read(path, "tools file")  # a clear error for a missing or unreadable file
    spec = importlib.util.spec_from_file_location(f"structgen_tools_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"--tools {path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's file failed to run
        raise UsageError(f"--tools {path}: {type(e).__name__}: {e}") from None
    tools = getattr(module, "TOOLS", None)
    if tools is None:
        tools = [f for name, f in vars(module).items() if inspect.isfunction(f) and not name.startswith("_")
                 and f.__name__ == name  # not lambdas or aliases
                 and f.__module__ == module.__name__]
    if not tools:
        raise UsageError(f"--tools {path}: defines no public function (or an empty TOOLS list)")
    return list(tools)


def _cmd_chat(args) -> int:
    import decode
    from decode.tools.agent import result_text

    tools = _load_tools(args.tools)
    agent = decode.Agent(*_load_model(args.model), tools=tools, system=args.system, max_steps=args.max_steps,
                         tool_choice=args.tool_choice, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, seed=args.seed)
    res = agent.run(args.question)
    if args.json:
        print(json.dumps({"answer": res.answer, "stop_reason": res.stop_reason, "steps": res.steps,
                          "calls": [{"name": c.name, "arguments": c.arguments, "error": c.error,
                                     "result": None if c.error else result_text(c.result)}
                                    for c in res.calls],
                          "messages": res.messages, "timings": res.timings}, ensure_ascii=False, indent=1))
    else:
        for rec in res.calls:
            shown = f"error: {rec.error}" if rec.error else result_text(rec.result)
            print(f"-> {rec.name}({json.dumps(rec.arguments, ensure_ascii=False)}) = {shown}", file=sys.stderr)
        if res.answer is not None:
            print(res.answer)
    if res.stop_reason == "max_steps":
        print(f"structgen: no answer within --max-steps {args.max_steps}", file=sys.stderr)
        return 1
    return 0


def _cmd_serve(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(f"structgen serve needs the serve extra (pip install 'structgen[serve]'): {e}") from None
    if args.max_batch < 1:
        raise UsageError(f"--max-batch must be >= 1, got {args.max_batch}")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    for flag, value in (("--max-draft", args.max_draft), ("--speculative-disable-batch", args.speculative_disable_batch),
                        ("--speculative-suffix", args.speculative_suffix)):
        if value is not None and not args.speculative:
            raise UsageError(f"{flag} needs --speculative")
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be >= 1, got {value}")
    from .serve.app import serve
    from .speculative import Speculation, SuffixStore

    spec = None
    if args.speculative:
        fields = {} if args.max_draft is None else {"max_draft": args.max_draft}
        if args.speculative_suffix is not None:
            fields["history"] = SuffixStore(max_tokens=args.speculative_suffix)
        spec = Speculation(**fields)
    try:
        serve(args.model, host=args.host, port=args.port, max_batch=args.max_batch, threads=args.threads,
              default_max_tokens=args.max_tokens, compile_budget_s=args.compile_budget, log_level=args.log_level,
              progress=_progress, speculative=spec, speculative_disable_batch=args.speculative_disable_batch)
    except (OSError, ValueError) as e:  # not found (offline, a typo), not a causal LM...
        raise UsageError(f"cannot serve model {args.model!r}: {e}") from None
    return 0


def _cmd_repair(args) -> int:
    import decode

    data = _read(args.draft, "draft file")
    try:
        draft = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"draft {args.draft!r} is not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})") \
            from None
    constraint = _load_constraint(args)
    if constraint is None:
        raise UsageError("repair needs a constraint: --schema, --pydantic, --regex or --grammar")
    model, tok = _load_model(args.model)
    _progress("structgen: repairing ...")
    r = decode.repair(model, tok, draft, constraint, max_new_tokens=args.max_new_tokens, method=args.method,
                      copy_bonus=args.copy_bonus, temperature=args.temperature, seed=args.seed)
    if args.json:
        print(json.dumps({"text": r.text, "edit_distance": r.edit_distance, "copied": r.copied,
                          "method": r.method}, ensure_ascii=False))
    else:
        print(r.text)
        print(f"structgen: edit distance to the draft: {r.edit_distance}", file=sys.stderr)
    return 0


def _cmd_bench(argv: list[str]) -> int:
    """The benchmarks' own CLI, in this process (argparse's exits become the return status)."""
    from .bench.__main__ import main as bench_main

    try:
        return int(bench_main(list(argv)) or 0)
    except SystemExit as e:  # --help, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":  # everything after it belongs to decode.bench
        return _cmd_bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    from constrain import ConstraintError

    try:
        if args.command == "generate":
            return _cmd_generate(args)
        if args.command == "sample":
            return _cmd_sample(args)
        if args.command == "chat":
            return _cmd_chat(args)
        if args.command == "serve":
            return _cmd_serve(args)
        if args.command == "repair":
            return _cmd_repair(args)
        if args.command == "bench":
            return _cmd_bench(args.args)
    except (ConstraintError, UsageError) as e:  # GenerationArgumentError, SchemaError, VocabularyError...
        return _error(str(e))
    except KeyboardInterrupt:
        print("structgen: interrupted", file=sys.stderr)
        return 130
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
