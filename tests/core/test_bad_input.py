"""Bad input never kills the loop: one clear warning naming the key; strict=True raises instead."""

import warnings

import pytest

import seetrain


def _warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, seetrain.SeeTrainWarning)]


def test_bad_values_warn_once_and_keep_the_rest(logdir):
    np = pytest.importorskip("numpy")
    run = seetrain.init(project="p", system_metrics=False)

    def log_twice():
        for _ in range(2):
            run.log({"good": 1.0, "obj": object(), 7: 2.0, "vec": np.zeros(3), "img": seetrain.Image(np.zeros((2, 2, 7)))})

    msgs = _warnings(log_twice)
    assert len(msgs) == 4  # once per problem, not per call
    assert any("'obj'" in m and "object" in m for m in msgs)
    assert any("key 7" in m and "string keys" in m for m in msgs)
    assert any("'vec'" in m and "Histogram" in m for m in msgs)
    assert any("'img'" in m and "shape (2, 2, 7)" in m for m in msgs)
    run.finish()
    r = seetrain.read_run(run.dir)
    assert r.keys() == ["good"] and r.scalars("good").values == [1.0, 1.0]
    assert run.get_stats()["errors"] == 4


def test_bad_steps_fall_back_to_the_next_step(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    msgs = _warnings(lambda: [run.log({"a": 1}, step=-3), run.log({"a": 2}, step=1.5), run.log({"a": 3}, step="x")])
    assert len(msgs) == 1 and "step=-3" in msgs[0] and "int >= 0" in msgs[0]
    run.finish()
    assert seetrain.read_run(run.dir).scalars("a").steps == [0, 1, 2]


def test_non_dict_data_and_log_before_init(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    msgs = _warnings(lambda: run.log([1, 2]))
    assert "takes a dict" in msgs[0]
    run.finish()
    import seetrain as st

    st._warned_no_run = False
    msgs = _warnings(lambda: st.log({"x": 1}))
    assert "before seetrain.init()" in msgs[0]


def test_strict_mode_raises(logdir):
    run = seetrain.init(project="p", strict=True, system_metrics=False)
    with pytest.raises(seetrain.SeeTrainError, match="'obj'"):
        run.log({"obj": object()})
    with pytest.raises(seetrain.SeeTrainError, match="step"):
        run.log({"x": 1}, step=-1)
    run.log({"x": 1})
    run.finish()
    assert seetrain.read_run(run.dir).keys() == ["x"]


def test_bad_init_arguments_are_explained(logdir):
    with pytest.raises(ValueError, match="not a mode"):
        seetrain.init(mode="cloudy")
    with pytest.raises(TypeError, match="dict-like"):
        seetrain.init(config=[1, 2])


def test_log_after_finish_is_ignored_with_a_warning(logdir):
    run = seetrain.init(project="p", system_metrics=False)
    run.finish()
    msgs = _warnings(lambda: run.log({"x": 1}))
    assert "finished" in msgs[0]
