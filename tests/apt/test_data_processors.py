"""data-processors: cleaning strategies, seeded EDA augmentation, balancing, quality checks, pipeline."""

from __future__ import annotations

from collections import Counter

import pytest

import seetrain
from seetrain.apt.plugins.data_processors import DataProcessorsPlugin

pytest.importorskip("imblearn")


@pytest.fixture
def dp():
    return DataProcessorsPlugin({"seed": 7})


def test_clean_basic_and_aggressive(dp):
    text = "Visit  https://example.org/a?b=1 now!!\tMail bob.smith@example.com\x00\u200b"
    assert dp.clean_text(text, "basic") == "Visit <URL> now!! Mail <EMAIL>"
    assert dp.clean_text("Hello, World! It's 2024 -- see www.x.com", "aggressive") == "hello world it's 2024 see <url>"
    keep = DataProcessorsPlugin({"url_token": None, "email_token": ""})
    assert keep.clean_text("go to http://a.b/c or x@y.io", "basic") == "go to http://a.b/c or"
    with pytest.raises(ValueError, match="strategy"):
        dp.clean_text("x", "fancy")


def test_clean_chinese_width_punctuation_and_traditional(dp):
    assert dp.clean_text("我们ＡＢＣ１２３很开心!!! 你好 世界,真的?", "chinese") == "我们ABC123很开心！你好世界，真的？"
    assert dp.clean_text("這個問題很難", "chinese") == "這個問題很難"  # traditional left alone by default
    assert dp.clean_text("這個問題很難", "chinese", to_simplified=True) == "这个问题很难"
    assert DataProcessorsPlugin({"to_simplified": True}).clean_text("讀書", "chinese") == "读书"


def test_clean_code_keeps_indentation(dp):
    code = "def f(x):\r\n\tif x:   \r\n\t\treturn 'http://a.b'\r\n\r\n\r\n\r\nprint(f(1))\x07"
    assert dp.clean_text(code, "code") == "def f(x):\n\tif x:\n\t\treturn 'http://a.b'\n\nprint(f(1))"


def test_augment_is_seeded_and_uses_synonyms():
    text = "The quick car is a good and smart choice for a fast trip"
    a = DataProcessorsPlugin({"seed": 1}).augment_text(text, ["synonym", "insert", "swap", "delete"], num_augment=2)
    b = DataProcessorsPlugin({"seed": 1}).augment_text(text, ["synonym", "insert", "swap", "delete"], num_augment=2)
    assert a == b and len(a) == 8
    words = set(text.lower().split())
    syn = a[0].lower().split()
    assert len(syn) >= len(text.split())
    assert any(w not in words for w in syn)  # a synonym went in
    assert len(a[2].split()) > len(text.split())  # insertion adds words
    assert sorted(a[4].split()) == sorted(text.split())  # swap keeps the words
    assert len(a[6].split()) < len(text.split())  # deletion drops some
    assert DataProcessorsPlugin({"seed": 2}).augment_text(text, ["swap"]) != DataProcessorsPlugin({"seed": 3}).augment_text(text, ["swap"])


def test_augment_chinese_and_user_synonyms():
    dp = DataProcessorsPlugin({"seed": 0, "synonyms": {"seetrain": ["the tracker"], "训练": ["培训"]}})
    out = dp.augment_text("我今天非常高兴", ["synonym"])[0]
    assert out != "我今天非常高兴" and out.startswith("我今天") and " " not in out
    assert dp.augment_text("seetrain", ["sr"]) == ["the tracker"]
    assert dp.augment_text("训练", ["synonym"]) == ["培训"]
    with pytest.raises(ValueError, match="unknown augmentation"):
        dp.augment_text("x", ["teleport"])


def test_back_translation_through_user_function():
    calls = []

    def translate(text, src, tgt):
        calls.append((src, tgt))
        return {"en": {"fr": "le film est bon"}, "fr": {"en": "the movie is fine"}}[src][tgt]

    dp = DataProcessorsPlugin({"translate_fn": translate, "pivot_lang": "fr"})
    assert dp.augment_text("the film is good", ["back_translation"]) == ["the movie is fine"]
    assert calls == [("en", "fr"), ("fr", "en")]
    with pytest.raises(ValueError, match="translate_fn"):
        DataProcessorsPlugin().augment_text("x", ["back_translation"])


def imbalanced():
    return ([{"text": f"bad movie number {i}", "label": "neg"} for i in range(12)]
            + [{"text": f"good film {i}", "label": "pos"} for i in range(3)])


def test_balance_over_under_sampling(dp):
    data = imbalanced()
    over = dp.balance_dataset(data, "label", "oversample")
    assert Counter(r["label"] for r in over) == {"neg": 12, "pos": 12}
    assert all(r in data for r in over)
    aug = dp.balance_dataset(data, "label", "oversample", augment=True)
    assert Counter(r["label"] for r in aug) == {"neg": 12, "pos": 12}
    assert sum(r.get("augmented", False) for r in aug) == 9
    under = dp.balance_dataset(data, "label", "undersample")
    assert Counter(r["label"] for r in under) == {"neg": 3, "pos": 3}
    first = DataProcessorsPlugin({"seed": 5}).balance_dataset(data, "label", "undersample")
    assert first == DataProcessorsPlugin({"seed": 5}).balance_dataset(data, "label", "undersample")
    with pytest.raises(ValueError, match="no 'y' label"):
        dp.balance_dataset(data, "y")


def test_balance_smote_numeric_features(dp):
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    data = ([{"x": rng.normal(size=3).tolist(), "label": 0} for _ in range(20)]
            + [{"x": (rng.normal(size=3) + 5).tolist(), "label": 1} for _ in range(5)])
    out = dp.balance_dataset(data, method="smote", feature_key="x")
    synth = [r for r in out if r.get("synthetic")]
    assert len(synth) == 15 and all(r["label"] == 1 for r in synth)
    minority = np.array([r["x"] for r in data if r["label"] == 1])
    for r in synth:  # interpolations lie inside the minority class's bounding box
        assert np.all(np.array(r["x"]) >= minority.min(0) - 1e-9) and np.all(np.array(r["x"]) <= minority.max(0) + 1e-9)
    with pytest.raises(ValueError, match="feature_key"):
        dp.balance_dataset(data, method="smote")


def test_check_quality_finds_each_issue(dp):
    data = [
        {"text": "a perfectly normal sentence", "label": 1},           # 0 ok
        {"text": "a perfectly normal sentence", "label": 1},           # 1 exact duplicate of 0
        {"text": "a perfectly normal sentence!", "label": 0},          # 2 near duplicate of 0
        {"text": "   ", "label": 1},                                   # 3 empty text
        {"text": "caf\u00c3\u00a9 is open", "label": 0},              # 4 mojibake
        {"text": "broken \ufffd char here", "label": None},            # 5 replacement char + empty label
        "not a record",                                                # 6 format
        {"body": "no text field"},                                     # 7 format
        {"text": "ab", "label": 1},                                    # 8 too short
        {"text": "x" * 60, "label": 1},                                # 9 too long
    ]
    issues = dp.check_quality(data, min_length=3, max_length=50)
    found = {(x["index"], x["type"]) for x in issues}
    assert found == {(1, "exact_duplicate"), (2, "near_duplicate"), (3, "empty_field"), (4, "encoding"),
                     (5, "encoding"), (5, "empty_field"), (6, "format"), (7, "format"), (8, "too_short"),
                     (9, "too_long")}
    assert all(set(x) == {"index", "type", "field", "detail", "severity"} for x in issues)
    assert next(x for x in issues if x["type"] == "exact_duplicate")["detail"] == "same text as record 0"


def test_pipeline_counts_and_logged_keys(logdir):
    run = seetrain.init(project="data")
    dp = DataProcessorsPlugin({"seed": 0})
    data = imbalanced() + [{"text": "good   film 0", "label": "pos"}, {"text": "", "label": "neg"}]
    out = dp.process_pipeline(data, ["clean", "quality_check", ("augment", {"methods": ["swap"]}),
                                     {"name": "balance", "method": "oversample"}])
    report = {(e["name"], e["in"], e["out"]) for e in dp.last_report}
    # clean: 17 -> 17; quality: the duplicate (after cleaning) and the empty text go -> 15;
    # augment: 3 minority records get one variant each -> 18; balance: 12 neg, 12 pos
    assert report == {("clean", 17, 17), ("quality_check", 17, 15), ("augment", 15, 18), ("balance", 18, 24)}
    assert Counter(r["label"] for r in out) == {"neg": 12, "pos": 12}
    run.finish()
    again = DataProcessorsPlugin({"seed": 0}).process_pipeline(  # no run now: nothing logged, same result
        data, ["clean", "quality_check", ("augment", {"methods": ["swap"]}), {"name": "balance"}])
    assert again == out
    r = seetrain.read_run(run.dir)
    assert r.scalars("data/pipeline/1_quality_check/out").values == [15]
    assert r.scalars("data/pipeline/3_balance/out").values == [24]
    assert r.scalars("data/quality/exact_duplicate").values == [1]
    assert "data/balance/pos" in r.keys()
    with pytest.raises(ValueError, match="pipeline step"):
        dp.process_pipeline(data, ["shuffle"])
