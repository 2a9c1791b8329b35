"""Object properties in any order (``property_order="any"``, the default) against oracles.

* every document over a small key and value pool (each key order, each subset) is accepted
  exactly when ``jsonschema`` validates it, for required / optional / additional / pattern
  properties, ``propertyNames``, ``minProperties`` / ``maxProperties``, ``dependentRequired``
  and a negated ``additionalProperties`` (a witness flag);
* every mask bit of a finite any-order object against the prefixes of its enumerated texts;
* a declared property written twice is rejected;
* ``property_order="declared"`` (and so ``JsonOptions.GENERATION``) narrows to declared order;
* 50 properties compile and walk without building the 2^50 key sets.
"""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest

from constrain import JsonOptions, compile_json_schema
from constrain.errors import OptionError
from oracles import all_orders, check_all_masks, small_vocab



VOCAB = small_vocab(b'{}":,abcdqxz1', max_len=1)


def documents(keys, values, max_members=4):
    """Compact texts of every object with distinct keys from ``keys`` (every order) and values
    from ``values``, up to ``max_members`` members, with the parsed instance."""
    for k in range(max_members + 1):
        for names in itertools.permutations(keys, k):
            for vals in itertools.product(values, repeat=k):
                text = "{" + ",".join(json.dumps(n) + ":" + json.dumps(v) for n, v in zip(names, vals)) + "}"
                yield text, dict(zip(names, vals))


def accepts(compiled, text: str) -> bool:
    m = compiled.matcher()
    return m.advance_bytes(text.encode()) and m.is_accepting()


P3 = {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "integer"}}

SCHEMAS = {
    "closed": {"type": "object", "properties": P3, "required": ["a", "b"], "additionalProperties": False},
    "additional": {"type": "object", "properties": P3, "required": ["b"], "additionalProperties": {"type": "integer"}},
    "pattern": {"type": "object", "properties": P3, "required": ["a"], "patternProperties": {"^q": {"type": "string"}},
                "additionalProperties": False},
    "names-and-counts": {"type": "object", "properties": P3, "propertyNames": {"maxLength": 1},
                         "minProperties": 2, "maxProperties": 3},
    "dependent": {"type": "object", "properties": P3, "dependentRequired": {"c": ["a"], "b": ["z"]},
                  "additionalProperties": {"type": "string"}},
    "required-undeclared": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["z", "a"],
                            "additionalProperties": {"type": "integer"}},
    "all-optional-min": {"type": "object", "properties": {**P3, "d": {"type": "string"}}, "minProperties": 3,
                         "additionalProperties": False},
    "witness": {"type": "object", "properties": {"a": {"type": "integer"}},
                "not": {"additionalProperties": {"type": "integer"}}},
    # four witness flags: some key in each of three name sets, some undeclared non-integer value
    "witness4": {"type": "object", "properties": {"a": {"type": "integer"}}, "maxProperties": 3,
                 "not": {"anyOf": [{"propertyNames": {"not": {"enum": ["a", "b"]}}},
                                   {"propertyNames": {"not": {"enum": ["b", "c"]}}},
                                   {"propertyNames": {"not": {"enum": ["c", "z"]}}},
                                   {"additionalProperties": {"type": "integer"}}]}},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_order_and_subset_agrees_with_jsonschema(name):
    schema = SCHEMAS[name]
    compiled = compile_json_schema(schema, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    keys = ["a", "b", "c", "z", "qq"] if name != "all-optional-min" else ["a", "b", "c", "d", "z"]
    n = wrong = accepted = 0
    for text, inst in documents(keys, [1, "x"]):
        want = validator.is_valid(inst)
        got = accepts(compiled, text)
        n += 1
        accepted += got
        if got != want:
            wrong += 1
            assert got == want, f"{name}: {text} engine {got}, jsonschema {want}"
    assert n > 2000 and accepted >= 8 and n - accepted > 100  # the oracle saw both answers


def test_a_declared_property_written_twice_is_rejected():
    compiled = compile_json_schema(SCHEMAS["additional"], VOCAB)
    assert accepts(compiled, '{"b":"x","a":1}')
    assert not accepts(compiled, '{"b":"x","a":1,"b":"x"}')
    assert not accepts(compiled, '{"a":1,"a":1,"b":"x"}')


def _spellings(v):
    if isinstance(v, dict):
        return ["{" + ",".join(json.dumps(k) + ":" + json.dumps(v[k]) for k in keys) + "}"
                for keys in itertools.permutations(v)]
    return [json.dumps(v)]


def test_masks_of_a_finite_any_order_object_are_exact():
    """Every mask bit against the prefixes of every spelling (every key order) of every instance."""
    schema = {"type": "object", "properties": {"a": {"const": 1}, "b": {"const": True}, "c": {"const": "x"}},
              "required": ["b"], "minProperties": 2, "additionalProperties": False}
    instances = [dict(zip(keys, vals)) for k in (2, 3) for keys in itertools.combinations("abc", k)
                 for vals in [[{"a": 1, "b": True, "c": "x"}[x] for x in keys]] if "b" in keys]
    strings = {s for v in instances for s in _spellings(v)}
    prefixes = {s[:i] for s in strings for i in range(len(s) + 1)}
    alphabet = sorted(set("".join(strings).encode()))
    vocab = small_vocab(bytes(alphabet), max_len=2, extra=(b'{"a":', b'":', b'true}', b'true,', b'"x"}'))
    compiled = compile_json_schema(schema, vocab, whitespace="compact")
    assert len(strings) == 2 + 2 + 6  # {a,b} and {b,c} in 2 orders each, {a,b,c} in 6

    def viable(b: bytes) -> bool:
        return b.decode("utf-8", "replace") in prefixes

    def complete(b: bytes) -> bool:
        return b.decode("utf-8", "replace") in strings

    check_all_masks(compiled, vocab, viable, complete, n_walks=30, max_steps=20)


def test_declared_order_is_the_generation_narrowing():
    schema = SCHEMAS["closed"]
    assert JsonOptions().property_order == "any"
    assert JsonOptions.GENERATION.property_order == "declared"
    for compiled in (compile_json_schema(schema, VOCAB, property_order="declared"),
                     compile_json_schema(schema, VOCAB, options=JsonOptions.GENERATION.replace(
                         canonical_strings=False, canonical_literals=False))):
        assert accepts(compiled, '{"a":1,"b":"x"}')
        assert accepts(compiled, '{"a":1,"b":"x","c":1}')
        assert not accepts(compiled, '{"b":"x","a":1}')
        assert not accepts(compiled, '{"a":1,"c":1,"b":"x"}')
    anyorder = compile_json_schema(schema, VOCAB)
    assert accepts(anyorder, '{"b":"x","a":1}') and accepts(anyorder, '{"c":1,"b":"x","a":1}')


def test_unknown_property_order_is_an_option_error():
    with pytest.raises(OptionError, match="property_order"):
        compile_json_schema({"type": "object"}, VOCAB, property_order="sorted")


def test_fifty_properties_build_only_visited_key_sets():
    """2^50 sets of properties seen: only those a text visits are built."""
    props = {f"p{i}": {"type": "integer"} for i in range(50)}
    schema = {"type": "object", "properties": props, "required": [f"p{i}" for i in range(0, 50, 5)],
              "additionalProperties": False}
    vocab = small_vocab(b'{}":,p0123456789', max_len=1)
    compiled = compile_json_schema(schema, vocab)
    order = [f"p{i}" for i in (list(range(49, -1, -2)) + list(range(0, 50, 10)))]
    inst = dict.fromkeys(order, 7)
    assert accepts(compiled, json.dumps(inst, separators=(",", ":")))
    missing = {k: v for k, v in inst.items() if k != "p10"}
    assert not accepts(compiled, json.dumps(missing, separators=(",", ":")))
    assert compiled.rtn.num_states < 50 * 300  # a few states per member per key set visited
    m = compiled.matcher()
    assert m.advance_bytes(b'{"p3":1,"p0":2')
    tail = m.shortest_completion()  # the missing required ones, cheapest first, then "}"
    assert m.copy().advance_bytes(tail) and len(tail) == m.shortest_completion_length()
    assert tail.count(b":") == 9



def test_enum_and_const_objects_match_in_any_order():
    """An object value equals its members in any order (and a nested one too); a member
    missing or repeated is no match. jsonschema decides every spelling."""
    a = {"a": 1, "b": [{"x": 1, "z": "q"}], "c": {"x": 1, "z": 1}}
    schema = {"enum": [a, {"a": 1}, 3]}
    compiled = compile_json_schema(schema, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    spellings = all_orders(a)
    assert len(spellings) == 6 * 2 * 2
    for text in spellings + ['{"a":1}', "3"]:
        assert accepts(compiled, text), text
    for text in ['{"a":1,"b":[{"x":1,"z":"q"}]}', '{"a":1,"c":{"x":1,"z":1},"b":[{"x":1}]}']:
        assert not accepts(compiled, text) and not validator.is_valid(json.loads(text)), text
    for text in ['{"a":1,"a":1}', '{"c":{"z":1,"x":1,"x":1},"b":[{"x":1,"z":"q"}],"a":1}']:
        assert not accepts(compiled, text), text  # a member written twice
    declared = compile_json_schema(schema, VOCAB, property_order="declared")
    assert accepts(declared, spellings[0]) and sum(accepts(declared, t) for t in spellings) == 1


def test_more_witness_flags_than_the_bound_is_a_clear_error():
    from constrain import UnsupportedSchemaError
    from constrain.frontends.json_schema.objects import MAX_WITNESS_FLAGS

    sets = [["a", "b"], ["b", "c"], ["c", "z"], ["z", "a"], ["a", "c"], ["b", "z"]][:MAX_WITNESS_FLAGS + 1]
    schema = {"type": "object", "not": {"anyOf": [{"propertyNames": {"not": {"enum": s}}} for s in sets]}}
    with pytest.raises(UnsupportedSchemaError) as e:
        compile_json_schema(schema, VOCAB)
    assert e.value.keyword == "not" and "negated property constraints" in str(e.value)
    compile_json_schema(dict(schema, **{"not": {"anyOf": schema["not"]["anyOf"][:-1]}}), VOCAB)  # at the bound: compiles


def _tracked_sizes_bit_by_bit(rule, seen: int, prod) -> frozenset:
    """The closed form's count of tracked members that can still be added, by testing every
    subset of the unseen usable ones bit by bit (what ``MembersRule._tracked_sizes`` did
    before it enumerated the subsets by doubling)."""
    split = rule._tracked_unseen(seen, prod)
    if split is None:
        return frozenset()
    forced, free = split
    base = rule._presence(seen) | sum(forced)
    sizes = set()
    for sub in range(1 << len(free)):
        pm, k = base, 0
        for j, p in enumerate(free):
            if sub >> j & 1:
                pm, k = pm | p, k + 1
        if rule.spec.allowed is None or pm in rule.spec.allowed:
            sizes.add(len(forced) + k)
    return frozenset(sizes)


def test_tracked_member_counts_equal_the_bit_by_bit_enumeration(smollm2_vocab):
    """For every set of seen members of objects whose presence formula tracks several
    members (``oneOf`` of required sets, ``dependentRequired``, ``not`` of required), the
    counts of tracked members that may still be added equal the subset-by-subset reference,
    computed without the memo (a fresh ``prod`` list)."""
    P4 = {k: {"type": "integer"} for k in "abcd"}
    schemas = [
        {"type": "object", "properties": P4, "oneOf": [{"required": ["a", "b"]}, {"required": ["c"]}],
         "dependentRequired": {"d": ["a"]}},
        {"type": "object", "properties": P4, "not": {"required": ["a", "c"]}, "anyOf": [{"required": ["b"]},
                                                                                      {"required": ["d"]}]},
    ]
    checked = 0
    for schema in schemas:
        rtn = compile_json_schema(schema, smollm2_vocab).rtn
        for rule in rtn.members.values():
            if len(rule.tracked_members) < 3 or rule.spec.allowed is None:
                continue
            prod = list(rule.productive)  # not the rule's own list: no memo
            for seen in range(1 << rule.n_declared):
                assert rule._tracked_sizes(seen, prod) == _tracked_sizes_bit_by_bit(rule, seen, prod), seen
                checked += 1
    assert checked >= 16


def test_rules_of_one_shape_share_exact_alive_answers(smollm2_vocab):
    """Objects in ``anyOf`` branches whose rules share a shape share the "may still end"
    memo and the plans of key states' edges (``MembersRule.shape``); every rule's memoized
    answers for every key equal its own answers computed without a memo (a fresh ``prod``
    list). Branches differ in one thing each
    (required, count bounds, a member whose value can never end, the presence formula), so a
    shape that left one out would hand one rule another's answers."""
    ints = {k: {"type": "integer"} for k in "abc"}
    strs = {k: {"type": "string"} for k in "abc"}
    loop = {"type": "object", "required": ["x"], "properties": {"x": {"$ref": "#/$defs/loop"}}}
    branches = [
        {"properties": ints, "required": ["a"]},
        {"properties": strs, "required": ["a"]},  # the same shape as the first
        {"properties": ints, "required": ["a"], "maxProperties": 1},
        {"properties": strs, "required": ["b"], "maxProperties": 1},
        {"properties": strs, "required": ["a"], "additionalProperties": False},
        {"properties": ints, "required": ["a"], "additionalProperties": False, "minProperties": 2},
        {"properties": ints, "additionalProperties": False, "minProperties": 2},
        {"properties": dict(ints, c={"$ref": "#/$defs/loop"}), "additionalProperties": False, "minProperties": 2},
        {"properties": ints, "not": {"required": ["a", "c"]}},
        {"properties": strs, "anyOf": [{"required": ["a"]}, {"required": ["c"]}]},
        {"properties": ints, "not": {"propertyNames": {"not": {"enum": ["a", "z"]}}}},
    ]
    schema = {"type": "array", "items": {"anyOf": [dict(b, type="object") for b in branches]},
              "$defs": {"loop": loop}}
    rtn = compile_json_schema(schema, smollm2_vocab).rtn
    rules = list(rtn.members.values())
    assert len({id(r._alive) for r in rules}) < len(rules)  # some rules share a memo
    assert len({id(r._alive) for r in rules}) >= 8  # ... and different shapes do not
    checked, answers = 0, set()
    for rule in rules:
        fresh = list(rule.productive)  # not the rule's own list: no memo
        n = len(rule.members)
        for seen, count, flags, emitted in itertools.product(range(1 << rule.n_declared), range(n + 2),
                                                             range(rule.full_flags + 1), (0, 1)):
            key = (seen, count, flags, emitted)
            got = rule.alive(key)
            assert got == rule.alive(key, fresh), (rule.where, key)
            # the shared plan of a key state's edges: alive successors by member and alternative
            final, succ = rule._plan(key)
            assert final == rule.final(key)
            assert [(m, rule.members[m][1][ai], k2) for m, ai, k2 in succ] == [
                (m, (afl, r), k2) for m, afl, r, k2 in rule.successors(key, fresh) if rule.alive(k2, fresh)]
            answers.add((id(rule._alive), key, got))
            checked += 1
    assert checked > 500
    # keys answered both ways by rules of different shapes: a coarser shape would merge them
    by_key = {}
    for _, key, got in answers:
        by_key.setdefault(key, set()).add(got)
    assert sum(len(v) == 2 for v in by_key.values()) >= 10
