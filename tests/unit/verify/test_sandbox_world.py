"""The check's world of modules (``sandbox_world``), in this process: fresh copies, apart from sys.modules."""

import json
import sys

from cogumi.verify.sandbox_world import imported_names, names_used, private_world, program_imports


def test_every_module_of_the_world_is_its_own_copy():
    load, scope = private_world()
    own_json = load("json")
    assert own_json is not json and own_json.decoder is not sys.modules["json.decoder"]
    assert own_json.loads('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    space = {"__builtins__": scope}
    exec("import os.path, re\nfrom fractions import Fraction\nfrom json import decoder\n"
         "RESULT = (os.path.join('a', 'b'), bool(re.match('x', 'X', re.I)), Fraction(1, 2) + Fraction(1, 2))",
         space)
    assert space["RESULT"] == ("a/b", True, 1)
    assert space["decoder"] is own_json.decoder and space["os"] is not sys.modules["os"]
    assert load("sys").modules is not sys.modules and load("sys").modules["json"] is own_json


def test_a_program_that_patches_a_module_changes_nothing_in_the_world():
    load, _ = private_world()
    own = load("json")
    original, json.loads = json.loads, lambda *a, **k: "patched"
    try:
        assert own.loads("[3]") == [3]
    finally:
        json.loads = original


def test_what_is_preloaded():
    tests = "import math\nfrom fractions import Fraction\ndef check(candidate):\n    import json.decoder\n"
    assert imported_names(tests) == ["fractions", "fractions.Fraction", "json.decoder", "math"]
    used = names_used(compile("def check(c):\n    assert np.isclose(c(1), 2)\n", "t", "exec"))
    assert {"np", "isclose"} <= used
    assert program_imports("import numpy as np\nimport os, typing\n", used) == ["numpy"]
