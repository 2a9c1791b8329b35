"""`make demo`: a validated Pydantic object from SmolLM2-135M-Instruct, with timings.

Greedy decoding, so the output is the same on every run.  The first run converts the bundled
GGUF model to a cached float32 checkpoint (a minute or so); later runs load it in seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated, Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pydantic import BaseModel, ConfigDict, Field, StringConstraints  # noqa: E402

import decode  # noqa: E402

Word = Annotated[str, StringConstraints(min_length=1, max_length=24)]


class Person(BaseModel):
    """A small record with the usual JSON Schema features: bounds, an enum, a bounded list."""

    model_config = ConfigDict(extra="forbid")

    name: Word
    age: int = Field(ge=18, le=99)
    occupation: Literal["engineer", "doctor", "teacher", "artist", "chef"]
    hobbies: list[Word] = Field(min_length=1, max_length=3)
    city: Word


MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Reply with a JSON object."},
    {"role": "user", "content": "Invent a fictional French person. Give their full name, age, "
                                "occupation, city and up to three hobbies."},
]


def main() -> int:
    t0 = time.perf_counter()
    model, tok = decode.load_default_model()
    print(f"model loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    print("schema:", json.dumps(Person.model_json_schema()), file=sys.stderr)
    try:
        person, res = decode.generate_object(model, tok, MESSAGES, Person, temperature=0.0,
                                             max_new_tokens=160, return_result=True)
    except decode.GenerationError as e:
        print(f"generation failed: {e}\npartial output: {e.partial_text!r}", file=sys.stderr)
        return 1
    print(person.model_dump_json(indent=2))
    t = res.timings
    print(
        f"\n{t['n_tokens']} tokens | compile {t['compile_s'] * 1e3:.0f} ms | "
        f"time to first token {t['time_to_first_token_s'] * 1e3:.0f} ms | "
        f"{t['time_per_output_token_s'] * 1e3:.1f} ms/token | "
        f"mask total {t['mask_time_s'] * 1e3:.1f} ms "
        f"({t['mask_time_s'] / max(t['n_tokens'], 1) * 1e6:.0f} us/token)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
