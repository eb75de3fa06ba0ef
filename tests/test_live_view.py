"""LiveView: widgets follow ``model.fit``, curves, replay; it observes training and never interferes."""

import subprocess
import sys

import numpy as np
import pytest

import cnnwidgets as cw
from cnnwidgets.errors import InvalidParameterError
from cnnwidgets.widgets.training.snapshots import WeightSnapshots, parse_bytes

SEED = 7


@pytest.fixture(scope="module")
def data():
    from cnnwidgets.demo.train_digits import load_mnist_subset

    x, y = load_mnist_subset()
    pick = np.random.default_rng(0).permutation(len(x))[:640]  # (sorted by class)
    return x[pick], y[pick]


@pytest.fixture(scope="module")
def sample():
    images, _ = cw.demo.digits_samples()
    return images[13]


def _model():
    import keras

    keras.utils.set_random_seed(SEED)
    model = cw.demo.build_digits_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(model, data, callbacks, epochs=3):
    import keras

    keras.utils.set_random_seed(SEED)
    x, y = data
    return model.fit(x, y, epochs=epochs, batch_size=64, validation_split=0.25, shuffle=True, verbose=0,
                     callbacks=callbacks)


def _views(browser, overlay, painter, grid):
    return {
        "feature maps": np.array(browser.frame.activations),
        "prediction": np.array(browser.probabilities),
        "grad-cam": np.array(overlay.heatmap),
        "occluded scores": np.array(painter.probabilities),
        "filters": np.array(grid._view.stack),
    }


def _fresh_views(model, weights, browser, overlay, painter, grid):
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(weights)
    insp = cw.Inspector(clone)
    return {
        "feature maps": insp.activations(browser.image, browser.layer).ravel()
        if browser.frame.kind == "vector" else insp.activations(browser.image, browser.layer),
        "prediction": insp.predict(browser.image),
        "grad-cam": insp.gradcam(overlay.image, overlay.class_index, layer=overlay.layer),
        "occluded scores": insp.occlude(painter.image, box=painter.box, fill=painter.fill),
        "filters": np.moveaxis(insp.filters(grid.layer), -1, 0),
    }


def _assert_views_equal(shown, expected, what):
    for name in shown:
        np.testing.assert_allclose(shown[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=f"{what}: {name}")


@pytest.fixture(scope="module")
def trained(data, sample):
    """Three epochs with four widgets attached; a probe records what they showed after each epoch."""
    import keras

    model = _model()
    browser = cw.LayerBrowser(model, layer="conv2")
    overlay = cw.SaliencyOverlay(model, sample, class_index=3)
    painter = cw.OcclusionPainter(model, sample)
    painter.box = (4, 4, 14, 14)
    grid = cw.FilterGrid(model, layer="conv1")
    widgets = (browser, overlay, painter, grid)
    for widget in widgets:
        widget.wait()
    live = cw.callbacks.LiveView(*widgets)
    shown = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            shown[epoch + 1] = (_views(*widgets), model.get_weights(), [w.banner.value for w in widgets])

    history = _fit(model, data, [live, Probe()])
    for widget in widgets:
        widget.wait()
    return dict(model=model, widgets=widgets, live=live, shown=shown, history=history)


def test_import_cnnwidgets_does_not_import_tensorflow():
    code = ("import sys, cnnwidgets as cw; cw.callbacks; cw.TrainingCurves; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_views_at_the_end_equal_a_fresh_inspector_on_the_final_weights(trained):
    model, widgets = trained["model"], trained["widgets"]
    _assert_views_equal(_views(*widgets), _fresh_views(model, model.get_weights(), *widgets), "final")


def test_views_after_each_epoch_were_computed_from_that_epochs_weights(trained):
    model, widgets = trained["model"], trained["widgets"]
    for epoch, (shown, weights, _) in trained["shown"].items():
        _assert_views_equal(shown, _fresh_views(model, weights, *widgets), f"epoch {epoch}")


def test_views_at_epoch_one_and_at_the_end_differ(trained):
    first = trained["shown"][1][0]
    last = _views(*trained["widgets"])
    for name in first:
        assert not np.array_equal(first[name], last[name]), f"{name} did not change during training"
    for name in ("feature maps", "grad-cam", "filters"):  # not a rounding difference
        change = np.abs(first[name] - last[name]).max() / (np.abs(last[name]).max() + 1e-12)
        assert change > 0.01, (name, change)


def test_banners_say_training_then_done(trained):
    banners = trained["shown"][2][2]
    assert all("training" in b and "epoch 2/3" in b and "clicks" in b for b in banners), banners
    final = [w.banner.value for w in trained["widgets"]]
    assert all("final weights" in b for b in final), final
    live = trained["live"]
    assert "done" in live.status.value and "3 epochs" in live.status.value


def test_curves_hold_keras_history(trained):
    live, history = trained["live"], trained["history"].history
    assert live.curves.epochs == [1, 2, 3]
    for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(live.curves.values(name), history[name], rtol=1e-6)
    assert live.curves.metric_names() == ["loss", "accuracy"]
    lines = live.curves._charts["loss"]["lines"]
    assert np.asarray(lines.y).shape == (2, 3)


def test_no_retracing_during_training_or_replay(trained):
    insp = trained["widgets"][0].inspector
    trained["live"].show_epoch(1)
    for widget in trained["widgets"]:
        widget.wait()
    trained["live"].restore()
    for widget in trained["widgets"]:
        widget.wait()
    assert insp.trace_counts and set(insp.trace_counts.values()) == {1}, dict(insp.trace_counts)


def test_replay_shows_each_epoch_and_restores_the_final_weights(trained):
    model, widgets, live = trained["model"], trained["widgets"], trained["live"]
    final_weights = model.get_weights()
    final_views = _views(*widgets)
    assert live.snapshots.epochs == [0, 1, 2, 3]
    assert not live.slider.disabled
    for epoch in (1, 2, 0):
        live.slider.value = epoch  # what a drag in the browser does
        for widget in widgets:
            widget.wait()
        weights = live.snapshots.get(epoch)[0]
        _assert_views_equal(_views(*widgets), _fresh_views(model, weights, *widgets), f"replay {epoch}")
        if epoch:
            _assert_views_equal(_views(*widgets), trained["shown"][epoch][0], f"replay {epoch} vs live")
        assert "replay" in widgets[0].banner.value and live.curves.marked == epoch
    live.slider.value = 3  # the final epoch: the final weights come back
    for widget in widgets:
        widget.wait()
    for got, expected in zip(model.get_weights(), final_weights):
        np.testing.assert_array_equal(got, expected)
    _assert_views_equal(_views(*widgets), final_views, "restored")
    assert "final weights" in widgets[0].banner.value and live.curves.marked is None


def test_running_a_cell_puts_the_final_weights_back(trained):
    model, live = trained["model"], trained["live"]
    final = model.get_weights()

    class Events:
        def __init__(self):
            self.callbacks = []

        def register(self, name, fn):
            assert name == "pre_run_cell"
            self.callbacks.append(fn)

        def unregister(self, name, fn):
            self.callbacks.remove(fn)

    class Shell:
        events = Events()

    import IPython

    original = IPython.get_ipython
    IPython.get_ipython = lambda: Shell
    try:
        live.show_epoch(1)
        assert not np.array_equal(model.get_weights()[0], final[0])
        assert len(Shell.events.callbacks) == 1
        Shell.events.callbacks[0]({})  # IPython runs it before the next cell
    finally:
        IPython.get_ipython = original
    assert not Shell.events.callbacks, "the hook stays registered after restoring"
    for got, expected in zip(model.get_weights(), final):
        np.testing.assert_array_equal(got, expected)
    for widget in trained["widgets"]:
        widget.wait()


def test_replay_needs_a_kept_epoch(trained):
    with pytest.raises(InvalidParameterError, match="kept: 0, 1, 2, 3"):
        trained["live"].show_epoch(9)


def test_seeded_training_is_the_same_with_and_without_the_callback(data, sample):
    plain = _model()
    _fit(plain, data, [])
    watched = _model()
    live = cw.callbacks.LiveView(cw.LayerBrowser(watched), cw.SaliencyOverlay(watched, sample))
    _fit(watched, data, [live])
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_every_n_batches_refreshes_within_epochs(data, sample):
    model = _model()
    browser = cw.LayerBrowser(model)
    live = cw.callbacks.LiveView(browser, every=3, replay=False)
    _fit(model, data, [live], epochs=2)  # 480 training images: 8 batches per epoch
    assert live.refreshes == 1 + 2 * 2 + 2 + 1  # start, batches 3 and 6 of each epoch, each epoch end, the end
    assert len(live.snapshots) == 0 and live.slider.disabled


def test_a_long_view_refreshes_only_when_it_has_finished(data):
    """A synthesis longer than an epoch is not restarted at every epoch (no backlog, and it finishes)."""
    model = _model()
    grid = cw.FilterGrid(model, layer="conv2", mode="maximize", steps=400, page_size=32)
    live = cw.callbacks.LiveView(grid, wait=0.0, replay=False)
    _fit(model, data, [live], epochs=3)
    grid.wait(120)
    assert live.skipped >= 1
    assert grid._runner.runs <= live.refreshes + 1
    fresh = cw.Inspector(model).maximize("conv2", list(range(32)), steps=400, l2=0.01, tv=0.2)
    np.testing.assert_allclose(grid.maximization.images, fresh.images, rtol=1e-4, atol=1e-3)


def test_bad_arguments_are_typed_errors():
    with pytest.raises(InvalidParameterError, match="at least one widget"):
        cw.callbacks.LiveView()
    with pytest.raises(InvalidParameterError, match="not str"):
        cw.callbacks.LiveView("browser")
    browser = cw.LayerBrowser(cw.demo.digits_model())
    with pytest.raises(InvalidParameterError, match="every"):
        cw.callbacks.LiveView(browser, every=0)
    with pytest.raises(InvalidParameterError, match="memory size"):
        cw.callbacks.LiveView(browser, memory="lots")
    browser.wait()


def test_snapshots_thin_evenly_within_the_budget():
    one = [[np.zeros(256, np.float32)]]  # 1 KB
    snapshots = WeightSnapshots(budget=5 * 1024)
    for epoch in range(0, 17):
        assert snapshots.add(epoch, one)
    kept = snapshots.epochs
    assert len(kept) == 5 and kept[0] == 0 and kept[-1] == 16
    gaps = np.diff(kept)
    assert gaps.max() <= 2 * gaps.min() + 1, kept
    assert snapshots.nbytes <= snapshots.budget
    assert "kept 5 snapshots" in snapshots.describe() and "dropped" in snapshots.describe()
    assert not WeightSnapshots(100).add(0, one)


def test_parse_bytes():
    assert parse_bytes("64 MB") == 64 * 2**20
    assert parse_bytes("1.5GiB") == int(1.5 * 2**30)
    assert parse_bytes(1000) == 1000


def test_an_explorer_follows_fit(data):
    model = _model()
    images, labels = cw.demo.digits_samples()
    explorer = cw.Explorer(model, images[:20], labels=labels[:20], layer="conv2")
    overlay = explorer.saliency_overlay  # build a second tab
    explorer.wait()
    live = cw.callbacks.LiveView(explorer)
    _fit(model, data, [live], epochs=2)
    explorer.wait()
    insp = cw.Inspector(model)
    np.testing.assert_allclose(explorer.layer_browser.frame.activations, insp.activations(explorer.image, "conv2"),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(overlay.heatmap, insp.gradcam(explorer.image, overlay.target, layer=overlay.layer),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explorer.probabilities, insp.predict(explorer.image), rtol=1e-5, atol=1e-7)
    assert "final weights" in explorer.banner.value


def test_every_epoch_leaves_keras_batch_logs_asynchronous():
    """A batch hook would make Keras wait for each batch's logs; only every=N needs one."""
    from keras.src import utils

    browser = cw.LayerBrowser(cw.demo.digits_model())
    assert utils.is_default(cw.callbacks.LiveView(browser).on_train_batch_end)
    assert not utils.is_default(cw.callbacks.LiveView(browser, every=5).on_train_batch_end)
    browser.wait()
