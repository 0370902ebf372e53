"""The generic fingerprint test (Recog model): every shipped file, every entry, every example."""

from __future__ import annotations

import re

import pytest

from camaudit.fingerprints.loader import build_set, fingerprint_files
from camaudit.fingerprints.errors import FingerprintError
from camaudit.fingerprints.schema import CAPTURE_NAMES, parse_fingerprint_file
from camaudit.fingerprints.verify import verify
from camaudit.fingerprints.vocabulary import load_vocabulary
from camaudit.oui import OuiTable

FILES = fingerprint_files()
VOCAB = load_vocabulary()


@pytest.mark.parametrize("name,text", FILES, ids=[n.rsplit("/", 1)[-1] for n, _ in FILES])
def test_vendor_file_is_sound(name: str, text: str) -> None:
    """Schema, compiling regexes, captures = declared outputs, examples match with the right
    captures, nothing earlier shadows an example, names from the one vocabulary."""
    fset = build_set([(n, t) for n, t in FILES], VOCAB, OuiTable([]))
    mine = [fp for fp in fset.fingerprints if fp.file == name]
    assert mine, f"{name} defines no fingerprint"
    problems = [p for p in verify(fset) if p.file == name]
    assert not problems, "\n".join(map(str, problems))
    for fp in mine:
        assert fp.examples, fp.id
        assert set(fp.captures) <= CAPTURE_NAMES
        if fp.match == "regex":
            assert set(re.compile(fp.pattern).groupindex) == set(fp.captures), fp.id
        for who in (fp.vendor, fp.brand):
            assert who is None or who in VOCAB.brands, f"{fp.id}: {who} not in vocabulary"
        assert fp.line > 0 and text.splitlines()[fp.line - 1].strip() == "[[fingerprint]]"


def test_counter_examples_do_not_match() -> None:
    """No fingerprint claims one of its listed look-alikes, and the shipped data lists some."""
    fset = build_set(FILES, VOCAB, OuiTable([]))
    assert sum(len(fp.counter_examples) for fp in fset.fingerprints) > 100
    problems = [p for p in verify(fset) if "counter-example" in str(p)]
    assert not problems, "\n".join(map(str, problems))


def test_a_matching_counter_example_is_reported_with_file_and_line() -> None:
    text = BROKEN_EXAMPLE.replace('examples = [{ value = "App-webs/" }]',
                                  'examples = [{ value = "App-webs/" }]\ncounter_examples = ["nginx", { value = "App-webs/2" }]')
    problems = [str(p) for p in verify(build_set([("c.toml", text)], VOCAB, OuiTable([])))]
    assert "c.toml:3: fingerprint 'test.ok': counter-example 'App-webs/2' matches /^App-webs//" in problems
    assert not any("'nginx'" in p for p in problems)


def test_a_counter_example_that_is_not_text_names_its_file_and_line() -> None:
    text = BROKEN_EXAMPLE.replace('examples = [{ value = "App-webs/" }]',
                                  'examples = [{ value = "App-webs/" }]\ncounter_examples = [5]')
    with pytest.raises(FingerprintError, match=r"c\.toml:3: .*counter-example 5 is not a string"):
        build_set([("c.toml", text)], VOCAB, OuiTable([]))


def test_every_flagged_vendor_and_decoys_are_covered() -> None:
    fset = build_set(FILES, VOCAB, OuiTable([]))
    vendors = {fp.vendor for fp in fset.fingerprints}
    assert {"Hikvision", "Dahua", "Huawei", "ZTE", "Hytera"} <= vendors
    assert {"Axis", "Bosch", "Hanwha", "Uniview", "Reolink", "Xiongmai"} <= vendors
    assert {"EZVIZ", "Prama", "HiLook", "HiWatch"} <= {b for b, v in VOCAB.lineage_of.items() if v == "Hikvision"}
    assert {"LTS", "Annke", "Amcrest", "Lorex", "Q-See"} <= {b for b, v in VOCAB.lineage_of.items() if v is None}


BROKEN_EXAMPLE = '''vendor = "Hikvision"

[[fingerprint]]
id = "test.ok"
field = "http.headers.server"
pattern = '^App-webs/'
weight = 0.8
examples = [{ value = "App-webs/" }]

[[fingerprint]]
id = "test.broken"
field = "http.headers.server"
pattern = '^(?P<model>DS-\\d+)$'
captures = ["model"]
weight = 0.8
examples = [{ value = "DS-2CD", model = "DS-2CD" }]
'''


def test_broken_example_fails_loudly_with_file_and_line() -> None:
    fset = build_set([("fingerprints/vendors/broken.toml", BROKEN_EXAMPLE)], VOCAB, OuiTable([]))
    problems = verify(fset)
    assert len(problems) == 1
    assert problems[0].file == "fingerprints/vendors/broken.toml" and problems[0].line == 10
    assert str(problems[0]).startswith("fingerprints/vendors/broken.toml:10: fingerprint 'test.broken'")
    assert "does not match" in str(problems[0])


def test_wrong_capture_is_reported() -> None:
    text = BROKEN_EXAMPLE.replace('{ value = "DS-2CD", model = "DS-2CD" }', '{ value = "DS-2", model = "DS-3" }')
    problems = verify(build_set([("x.toml", text)], VOCAB, OuiTable([])))
    assert [p.line for p in problems] == [10] and "expected {'model': 'DS-3'}" in str(problems[0])


def test_shadowing_by_an_earlier_fingerprint_is_reported() -> None:
    text = BROKEN_EXAMPLE.replace('examples = [{ value = "DS-2CD", model = "DS-2CD" }]',
                                  'examples = [{ value = "DS-2", model = "DS-2" }]')
    dahua = '''vendor = "Dahua"

[[fingerprint]]
id = "test.dahua"
field = "http.headers.server"
pattern = '^DS-2$'
weight = 0.5
examples = [{ value = "DS-2" }]
'''
    problems = verify(build_set([("a.toml", text), ("b.toml", dahua)], VOCAB, OuiTable([])))
    assert len(problems) == 1 and problems[0].file == "b.toml" and problems[0].line == 3
    assert "shadowed by earlier 'test.broken'" in str(problems[0])


@pytest.mark.parametrize("change,message", [
    (("pattern = '^App-webs/'", "pattern = '^App-(webs'"), "does not compile"),
    (('captures = ["model"]', 'captures = ["serial"]'), "differ from declared captures"),
    (('vendor = "Hikvision"', 'vendor = "Hikvisoin"'), "not in fingerprints/vocabulary.toml"),
    (('examples = [{ value = "App-webs/" }]', ''), "needs at least one example"),
    (('field = "http.headers.server"\npattern = \'^App', 'field = "htp.headers.server"\npattern = \'^App'), "unknown source 'htp'"),
    (("weight = 0.8\nexamples = [{ value = \"App", "weight = 8\nexamples = [{ value = \"App"), "weight must be"),
    (('id = "test.ok"', 'id = "test.broken"'), "already used at"),
])
def test_schema_errors_name_file_and_line(change: tuple[str, str], message: str) -> None:
    text = BROKEN_EXAMPLE.replace(*change, 1)
    assert text != BROKEN_EXAMPLE
    with pytest.raises(FingerprintError) as err:
        build_set([("fingerprints/vendors/bad.toml", text)], VOCAB, OuiTable([]))
    assert message in str(err.value)
    assert str(err.value).startswith("fingerprints/vendors/bad.toml:")
    if err.value.line not in (None, 1):
        assert text.splitlines()[err.value.line - 1] == "[[fingerprint]]"


def test_invalid_toml_is_reported_with_position() -> None:
    with pytest.raises(FingerprintError, match=r"bad\.toml: not valid TOML: .*line 2"):
        build_set([("bad.toml", 'vendor = "Dahua"\n[[fingerprint]\n')], VOCAB, OuiTable([]))


def test_vocabulary_rejects_an_alias_naming_two_brands() -> None:
    with pytest.raises(FingerprintError, match="alias 'X' names both"):
        load_vocabulary('[vendors.A]\naliases = ["X"]\n[vendors.B]\naliases = ["X"]\n')


def test_fingerprint_file_with_wrong_types_names_file_and_entry() -> None:
    """Found by tests/fuzz: `examples = 0` or `vendor = []` raised TypeError from a user's file."""
    vocab = load_vocabulary()
    entry = ('[[fingerprint]]\nid = "x.y"\nfield = "http.title"\npattern = "x"\nweight = 0.5\n'
             'vendor = "Hikvision"\n')
    for bad in (entry + "examples = 0\n", entry + 'examples = [{ value = "x" }]\nwhen = 5\n',
                'vendor = []\n' + entry, "fingerprint = 3\n"):
        with pytest.raises(FingerprintError, match="user.toml"):
            parse_fingerprint_file(bad, "user.toml", vocab)


def test_every_owned_brand_cites_the_ownership() -> None:
    """A `lineage` flags a label as its owner's: each names the public source of that claim."""
    import tomllib

    from camaudit.fingerprints.data import data_root

    brands = tomllib.loads(data_root().joinpath("vocabulary.toml").read_text("utf-8"))["brands"]
    owned = {name: entry for name, entry in brands.items() if entry.get("lineage")}
    assert {"EZVIZ", "Hikmicro", "Hikrobot", "Imou", "Sepura", "Teltronic"} <= set(owned)
    assert [name for name, entry in owned.items() if len(str(entry.get("reference", "")).strip()) < 20] == []
