"""Registry lookups over real installed test plugins: aliases, dist:name, wildcards, did-you-mean."""

import sys

import pytest

from zoo import ZooError, plugins
from zoo.registry import Registry, normalize_kind


@pytest.fixture(scope="module")
def registry(plugin_site):
    """A Registry of the built-in backbones plus zoo-acme and zoo-clash (not the global one)."""
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(plugin_site))
    yield Registry(plugins.load({"ZOO_LOAD_PLUGINS": "zoo-acme,zoo-clash"}))
    mp.undo()


def test_lookup_by_name_alias_and_case(registry):
    spec = registry.spec("backbone", "acme_tiny")
    assert (spec.kind, spec.plugin, spec.input_size, spec.preprocess) == (
        "backbone", "zoo-acme", 32, "scale_0_1")
    assert registry.spec("backbones", "MOBILE_ACME") is spec
    assert registry.spec("Backbone", "resnet").name == "resnet50"


def test_looking_up_a_spec_does_not_import_its_target(registry):
    # Importing targets (and Keras) is covered in fresh processes by test_contract.py.
    assert registry.spec("head", "acme_head").target == "zoo_acme.parts:build_head"
    assert "zoo_acme.parts" not in sys.modules and "zoo_acme.plugin" in sys.modules


def test_a_clash_names_both_distributions_and_dist_name_picks_one(registry):
    with pytest.raises(ZooError, match="zoo-acme and zoo-clash|zoo-clash and zoo-acme") as err:
        registry.spec("layer", "acme_scale")
    assert "'zoo-acme:acme_scale'" in str(err.value)
    assert registry.spec("layer", "zoo-clash:acme_scale").plugin == "zoo-clash"
    assert registry.spec("layer", "zoo_ACME:acme_scale").plugin == "zoo-acme"
    assert any("acme_scale" in line and "zoo-clash" in line for line in registry.problems)


def test_unknown_names_get_a_did_you_mean(registry):
    with pytest.raises(ZooError, match=r"unknown backbone 'acme_tny'; did you mean 'acme_tiny'"):
        registry.spec("backbone", "acme_tny")
    with pytest.raises(ZooError, match=r"'acme_head' is a head, not a backbone"):
        registry.spec("backbone", "acme_head")
    with pytest.raises(ZooError, match=r"see 'zoo list losses'"):
        registry.spec("loss", "qqqqqq")
    with pytest.raises(ZooError, match=r"no component named 'acme_hed'; did you mean 'acme_head'"):
        registry.find("acme_hed")


def test_unknown_kind_says_the_kinds():
    with pytest.raises(ZooError, match=r"unknown kind 'backbon'; did you mean 'backbones'\? kinds"):
        normalize_kind("backbon")
    assert normalize_kind("Initializers") == "initializer"


def test_wildcards_match_names_and_aliases(registry):
    assert [s.name for s in registry.list("backbone", "acme*")] == ["acme_tiny"]
    assert [s.name for s in registry.list("backbone", "mobile_a*")] == ["acme_tiny"]
    assert [s.name for s in registry.list("layer", "ACME_*")] == ["acme_scale", "acme_scale"]
    kinds = [s.kind for s in registry.list(pattern="acme_*")]
    assert kinds == sorted(kinds, key=["backbone", "head", "model", "layer", "loss",
                                       "initializer"].index)
