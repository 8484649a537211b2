import datetime as dt
import json

import pytest

import ftdecide
from ftdecide.errors import DataError, UnknownModelError, UsageError
from ftdecide.pricing import _catalog as prices


class Shop(ftdecide.Provider):
    name = "shop"

    def catalog(self):
        return [
            ftdecide.ModelInfo(id="big-2025-01-01", aliases=("big",), tunable=True,
                               training_per_1m=10.0, input_per_1m=1.0, output_per_1m=2.0,
                               as_of=dt.date(2026, 11, 1), source="https://shop.example/prices"),
            ftdecide.ModelInfo(id="small", input_per_1m=0.1, output_per_1m=0.2,
                               as_of=dt.date(2026, 1, 1), shutdown=dt.date(2026, 6, 1)),
        ]


class Other(Shop):
    name = "other"


def test_resolve_provider_slash_model_bare_id_and_alias():
    cat = prices.Catalog({"shop": Shop()})
    assert cat.resolve("shop/big-2025-01-01").id == "big-2025-01-01"
    assert cat.resolve("shop/big").id == "big-2025-01-01"
    assert cat.resolve("big").key == "shop/big-2025-01-01"
    assert cat.resolve("small").provider == "shop"


def test_split_at_first_slash_only():
    class Local(ftdecide.Provider):
        name = "local"

        def model_info(self, model):
            return ftdecide.ModelInfo(id=model, input_per_1m=0.0, output_per_1m=0.0)

    cat = prices.Catalog({"local": Local()})
    assert cat.resolve("local/some/folder/model").id == "some/folder/model"


def test_unknown_model_names_closest():
    cat = prices.Catalog({"shop": Shop()})
    with pytest.raises(UnknownModelError) as info:
        cat.resolve("shop/bigg")
    assert "shop/big-2025-01-01" in info.value.suggestions
    assert info.value.exit_code == 2
    with pytest.raises(UnknownModelError, match="unknown model 'smal'"):
        cat.resolve("smal")


def test_ambiguous_bare_id_asks_for_provider():
    cat = prices.Catalog({"shop": Shop(), "other": Other()})
    with pytest.raises(UsageError, match="several providers"):
        cat.resolve("big")


def test_override_file_changes_fields_and_adds_models(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("as_of: 2026-12-01\nsource: negotiated\nmodels:\n"
                 "  shop/big-2025-01-01:\n    training_per_1m: 7.5\n"
                 "  shop/new-model:\n    input_per_1m: 3\n    output_per_1m: 4\n    tunable: true\n")
    cat = prices.Catalog({"shop": Shop()}, prices.load_price_file(f))
    big = cat.resolve("big")
    assert big.training_per_1m == 7.5 and big.input_per_1m == 1.0
    assert big.as_of == dt.date(2026, 12, 1) and big.source == "negotiated"
    new = cat.resolve("shop/new-model")
    assert new.input_per_1m == 3.0 and new.tunable


def test_json_price_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"models": {"shop/small": {"output_per_1m": 9}}}))
    cat = prices.Catalog({"shop": Shop()}, prices.load_price_file(f))
    assert cat.resolve("small").output_per_1m == 9.0


@pytest.mark.parametrize("body,match", [
    ("models:\n  shop/big:\n    training_per_1m: -1\n", r"training_per_1m: expected a non-negative"),
    ("models:\n  shop/big:\n    trainig_per_1m: 1\n", r"unknown field 'trainig_per_1m'"),
    ("models:\n  shop/big:\n    as_of: yesterday\n", r"as_of: expected a date"),
    ("models:\n  big:\n    input_per_1m: 1\n", r"name the provider"),
    ("modles: {}\n", r"unknown top-level key 'modles'"),
    ("models: [1, 2]\n", r"'models' must be a mapping"),
    ("models:\n  shop/big: {input_per_1m: [}\n", r"invalid YAML"),
])
def test_bad_price_files_name_file_and_key(tmp_path, body, match):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(DataError, match=match) as info:
        prices.load_price_file(f)
    assert str(f) in info.value.message and info.value.exit_code == 2


def test_yaml_error_has_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("models:\n  shop/big:\n    input_per_1m: 1\n  - oops\n")
    with pytest.raises(DataError) as info:
        prices.load_price_file(f)
    assert info.value.line == 4


def test_override_for_missing_provider_is_usage_error(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("models:\n  nowhere/x:\n    input_per_1m: 1\n")
    with pytest.raises(UsageError, match="no provider named 'nowhere'"):
        prices.Catalog({"shop": Shop()}, prices.load_price_file(f))


def test_missing_price_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        prices.load_price_file(tmp_path / "nope.yaml")


def test_user_config_file_applies_then_flag_file_wins(tmp_path, monkeypatch):
    from ftdecide.plugins import Registry

    (tmp_path / "user-config").mkdir(exist_ok=True)
    prices.user_price_file().write_text("models:\n  shop/small:\n    input_per_1m: 5\n"
                                        "    output_per_1m: 6\n")
    flag = tmp_path / "flag.yaml"
    flag.write_text("models:\n  shop/small:\n    output_per_1m: 7\n")

    class ShopPlugin:
        @ftdecide.hookimpl
        def register_providers(self, register):
            register(Shop())

    reg = Registry(load_entry_points=False)
    reg.add_plugin(ShopPlugin(), name="shop")
    small = prices.load_catalog(reg, [flag]).resolve("small")
    assert (small.input_per_1m, small.output_per_1m) == (5.0, 7.0)


def test_freshness_flags():
    today = dt.date(2026, 11, 28)
    cat = prices.Catalog({"shop": Shop()})
    assert prices.freshness(cat.resolve("big"), today) == []
    assert prices.freshness(cat.resolve("small"), today) == ["stale", "shut-down"]
    assert prices.freshness(ftdecide.ModelInfo(id="x"), today) == ["no-date"]


def test_bare_id_prefers_the_maker_over_a_reseller():
    class Reseller(Shop):
        name = "resell"
        bare_ids = False

    cat = prices.Catalog({"shop": Shop(), "resell": Reseller()})
    assert cat.resolve("big").key == "shop/big-2025-01-01"
    assert cat.resolve("resell/big").key == "resell/big-2025-01-01"
