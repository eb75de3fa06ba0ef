"""Incremental occlusion inference equals full recomputation.

The reference is always the model itself, called by Keras on occluded copies
built here with numpy; the incremental engine never sees those copies. Tiny
seeded models cover every layer rule with every stride, padding, dilation
and kernel combination Keras allows, with patches at corners, borders and
inside; ``full_fraction=1.0`` keeps the windowed path running as deep as the
rules allow, so every rule's windows reach the output. keras.applications
families (weights=None, small inputs) check real graphs.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import cnnwidgets as cw  # noqa: E402
from cnnwidgets.backend.incremental import DrillDown, OcclusionRun, spearman  # noqa: E402

L = keras.layers
H, W, C = 17, 15, 3


def seeded(model, seed=0):
    """Random weights (He-scaled), BN statistics away from identity, so mistakes show."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim > 1:
            scale = np.sqrt(2.0 / max(1, int(np.prod(w.shape[:-1]))))
            weights.append((rng.standard_normal(w.shape) * scale).astype(np.float32))
        else:
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    model.set_weights(weights)
    return model


def head(x, classes=4):
    """Flatten + linear Dense: every output position of the last map reaches the scores."""
    return L.Dense(classes, name="scores")(L.Flatten(name="flat")(x))


def corner_positions(height, width, rect):
    last_y, last_x = height - rect[0], width - rect[1]
    return [(0, 0), (0, last_x), (last_y, 0), (last_y, last_x), (last_y // 2, 0), (0, last_x // 2),
            (last_y // 2, last_x // 2), (min(1, last_y), min(2, last_x))]


def incremental_outputs(model, image, rect, positions, fill=0.0, full_fraction=1.0):
    """(engine output, reference output, plan) for patches of ``fill`` at ``positions``."""
    insp = cw.Inspector(model)
    engine = insp._incremental
    assert engine.available, engine.reason
    plan = engine.plan(rect, 1.0, full_fraction)
    _, model_input, _ = insp.prepare(image)
    _, clean = engine.clean_maps(model_input)
    ys, xs = zip(*positions)
    patches = np.full((len(positions), *rect, model_input.shape[-1]), fill, np.float32)
    offsets = tf.constant(plan.offsets(ys, xs))
    got = engine.run(plan, tf.constant(patches), offsets, tuple(clean[k] for k in plan.clean_keys))
    batch = np.repeat(model_input[None], len(positions), axis=0)
    for i, (y, x) in enumerate(positions):
        batch[i, y : y + rect[0], x : x + rect[1]] = fill
    want = model(batch, training=False)
    return np.asarray(got), np.asarray(want), plan


def assert_exact(model, rect=(3, 4), fill=0.0, full_fraction=1.0, image=None, atol=1e-4):
    height, width = model.input_shape[1:3]
    if image is None:
        image = np.random.default_rng(5).uniform(0, 255, (height, width, model.input_shape[-1])).astype(np.float32)
    positions = corner_positions(height, width, rect)
    got, want, plan = incremental_outputs(model, image, rect, positions, fill, full_fraction)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, atol=atol * scale, rtol=0)
    clean = np.asarray(model(image[None].astype(np.float32), training=False))
    assert np.abs(want - clean).max() > 1e-3 * scale, "the patch must change the output for the test to mean anything"
    return plan


def windowed(plan):
    """Paths of the layers the plan runs on windows."""
    return [s.path for s, p in zip(plan.steps, plan.step_plans) if p.mode == "incremental"]


# ------------------------------------------------------------------ conv layers
CONV_GEOMETRY = [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)]  # (stride, dilation): Keras forbids both > 1


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("stride,dilation", CONV_GEOMETRY)
@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"])
def test_convolutions_every_geometry(kind, stride, dilation, kernel, padding):
    inp = keras.Input((H, W, C))
    geometry = dict(strides=stride, dilation_rate=dilation, padding=padding)
    if kind == "Conv2D":
        layer = L.Conv2D(5, kernel, **geometry, name="under_test")
    elif kind == "DepthwiseConv2D":
        layer = L.DepthwiseConv2D(kernel, depth_multiplier=2, **geometry, name="under_test")
    else:
        layer = L.SeparableConv2D(5, kernel, depth_multiplier=2, **geometry, name="under_test")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inp)
    x = layer(x)
    x = L.Conv2D(3, 3, padding="same", name="after")(x)
    model = seeded(keras.Model(inp, head(x)))
    plan = assert_exact(model)
    assert "under_test" in windowed(plan)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_pooling_every_geometry(kind, pool, stride, padding):
    inp = keras.Input((H, W, C))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inp)  # negative values: max pool padding must not be 0
    x = getattr(L, kind)(pool, strides=stride, padding=padding, name="under_test")(x)
    x = L.Conv2D(3, 2, padding="same", name="after")(x)
    model = seeded(keras.Model(inp, head(x)))
    plan = assert_exact(model, fill=100.0)
    assert "under_test" in windowed(plan)


def test_zero_padding_and_cropping():
    inp = keras.Input((H, W, C))
    x = L.ZeroPadding2D(((1, 2), (3, 0)), name="pad")(inp)
    x = L.Conv2D(4, 3, strides=2, name="conv")(x)
    x = L.Cropping2D(((1, 0), (0, 2)), name="crop")(x)
    x = L.Conv2D(3, 3, padding="same", name="after")(x)
    plan = assert_exact(seeded(keras.Model(inp, head(x))))
    assert {"pad", "crop", "conv"} <= set(windowed(plan))


def test_pointwise_layers():
    inp = keras.Input((H, W, C))
    x = L.Rescaling(1 / 127.5, offset=-1, name="rescale")(inp)
    norm = L.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.0], name="norm")
    x = norm(x)
    x = L.Conv2D(6, 3, padding="same", name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(max_value=6.0, name="relu6")(x)
    x = L.LeakyReLU(negative_slope=0.2, name="leaky")(x)
    x = L.ELU(name="elu")(x)
    x = L.Activation("swish", name="swish")(x)
    x = L.Dropout(0.5, name="dropout")(x)
    x = L.Softmax(name="softmax")(x)
    plan = assert_exact(seeded(keras.Model(inp, head(x))))
    assert {"rescale", "norm", "bn", "relu6", "leaky", "elu", "swish", "dropout", "softmax"} <= set(windowed(plan))


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
def test_residual_merges(merge):
    inp = keras.Input((H, W, C))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    branch = L.Conv2D(4, 5, padding="same", dilation_rate=2, name="wide")(x)  # wider halo than the shortcut
    shortcut = L.Conv2D(4, 1, name="shortcut")(x)
    x = getattr(L, merge)(name="merge")([branch, shortcut])
    x = L.Conv2D(3, 3, strides=2, padding="same", name="after")(x)
    plan = assert_exact(seeded(keras.Model(inp, head(x))))
    assert "merge" in windowed(plan)


def test_inception_block_of_mixed_branches():
    inp = keras.Input((H, W, C))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    b1 = L.Conv2D(2, 1, name="b1")(x)
    b3 = L.Conv2D(2, 3, padding="same", name="b3")(x)
    b5 = L.Conv2D(2, (1, 5), padding="same", name="b5a")(x)
    b5 = L.Conv2D(2, (5, 1), padding="same", name="b5b")(b5)
    bp = L.AveragePooling2D(3, strides=1, padding="same", name="bpool")(x)
    bm = L.MaxPooling2D(3, strides=1, padding="same", name="bmax")(x)
    x = L.Concatenate(name="mixed")([b1, b3, b5, bp, bm])
    x = L.Add(name="self_add")([x, x])
    plan = assert_exact(seeded(keras.Model(inp, head(x))))
    assert {"mixed", "self_add", "bpool", "b5b"} <= set(windowed(plan))


def test_nested_models_sequential_and_functional():
    inner_in = keras.Input((H, W, C))
    y = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="inner_conv")(inner_in)
    y = L.MaxPooling2D(2, padding="same", name="inner_pool")(y)
    base = keras.Model(inner_in, y, name="base")
    block = keras.Sequential([keras.Input(base.output_shape[1:]), L.Conv2D(3, 3, padding="same", name="seq_conv"),
                              L.BatchNormalization(name="seq_bn")], name="block")
    inp = keras.Input((H, W, C))
    x = L.Rescaling(1 / 255.0, name="rescale")(inp)
    x = block(base(x))
    plan = assert_exact(seeded(keras.Model(inp, head(x))), rect=(5, 2))
    assert {"base/inner_conv", "base/inner_pool", "block/seq_conv", "block/seq_bn"} <= set(windowed(plan))


class DoubledConv(L.Conv2D):
    """A Conv2D subclass whose call differs from Conv2D's: no rule may assume Conv2D's."""

    def call(self, inputs):
        return 2.0 * super().call(inputs)


@pytest.mark.parametrize("odd", ["subclass", "upsampling", "lambda"])
def test_unhandled_layer_falls_back_to_full_computation(odd):
    inp = keras.Input((H, W, C))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    if odd == "subclass":
        x = DoubledConv(4, 3, padding="same", name="odd")(x)
    elif odd == "upsampling":
        x = L.UpSampling2D(2, name="odd")(x)
    else:
        x = L.Lambda(lambda t: t[:, ::-1], name="odd")(x)  # flips rows: not local at all
    x = L.Conv2D(3, 3, padding="same", name="after")(x)
    plan = assert_exact(seeded(keras.Model(inp, head(x))))
    assert "odd" in plan.unhandled
    assert windowed(plan) == ["stem"]


@pytest.mark.parametrize("rect", [(1, 1), (2, 7), (H, W)])
def test_rectangle_sizes_down_to_one_pixel_and_up_to_the_whole_image(rect):
    inp = keras.Input((H, W, C))
    x = L.Conv2D(4, 3, strides=2, padding="same", name="a")(inp)
    x = L.DepthwiseConv2D(3, padding="valid", name="b")(x)
    assert_exact(seeded(keras.Model(inp, head(x))), rect=rect)


def test_sequential_model():
    model = seeded(keras.Sequential([
        keras.Input((H, W, C)), L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        L.MaxPooling2D(2, name="p1"), L.Conv2D(3, 3, name="c2"), L.Flatten(), L.Dense(4),
    ]))
    assert {"c1", "p1", "c2"} <= set(windowed(assert_exact(model)))


# ------------------------------------------------------------ keras.applications
APPLICATIONS = [
    ("VGG16", 128, {}),
    ("ResNet50", 128, {}),
    ("MobileNetV2", 128, {}),
    ("EfficientNetB0", 128, {}),
    ("InceptionV3", 139, {}),
    ("DenseNet121", 128, {}),
]


@pytest.mark.parametrize("name,size,kwargs", APPLICATIONS, ids=[a[0] for a in APPLICATIONS])
def test_keras_applications_equal_full_recomputation(name, size, kwargs):
    builder = getattr(keras.applications, name)
    model = builder(weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None, **kwargs)
    image = np.random.default_rng(3).uniform(0, 255, (size, size, 3)).astype(np.float32)
    positions = corner_positions(size, size, (16, 16))[:5]
    got, want, plan = incremental_outputs(model, image, (16, 16), positions, fill=127.5, full_fraction=0.9)
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max())), rtol=0)
    assert len(windowed(plan)) >= 3


def test_nested_transfer_model():
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(96, 96, 3), alpha=0.35)
    inp = keras.Input((96, 96, 3))
    x = L.Rescaling(1 / 127.5, offset=-1, name="prep")(inp)
    x = base(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, L.Dense(3, name="head")(x))
    image = np.random.default_rng(4).uniform(0, 255, (96, 96, 3)).astype(np.float32)
    positions = corner_positions(96, 96, (16, 16))[:5]
    got, want, plan = incremental_outputs(model, image, (16, 16), positions, fill=0.0, full_fraction=0.9)
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max())), rtol=0)
    assert any(p.startswith(base.name + "/") for p in windowed(plan))


# ------------------------------------------------------------- Inspector wiring
@pytest.fixture(scope="module")
def small_cnn():
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    out = L.Dense(5, activation="softmax")(L.Flatten()(x))
    model = seeded(keras.Model(inp, out), seed=2)
    image = np.random.default_rng(9).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    return model, image


def test_occlusion_map_methods_agree_and_report(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    full = insp.occlusion_map(image, 1, patch=6, stride=3, method="full")
    assert insp.occlusion_stats.sweep.mode == "full"
    insp.clear_cache()
    inc = insp.occlusion_map(image, 1, patch=6, stride=3, method="incremental", batch_size=16)
    run = insp.occlusion_stats.sweep
    np.testing.assert_allclose(inc, full, atol=1e-6)
    assert isinstance(run, OcclusionRun) and run.mode == "incremental" and run.positions == 100
    assert run.speedup is not None and run.speedup > 0 and 0 < run.flops_fraction < 1
    assert "faster than full" in run.summary()
    insp.clear_cache()
    insp.occlusion_map(image, 1, patch=6, stride=3, method="incremental", batch_size=16, fill="black")
    assert insp.trace_counts["incremental"] == 1  # one trace per patch size, whatever the image or fill


def test_auto_runs_full_where_incremental_saves_nothing(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    insp.occlusion_map(image, 0, patch=30, stride=2, method="auto")
    run = insp.occlusion_stats.sweep
    assert run.mode == "full" and "of the work" in run.reason


def test_occlude_moves_incremental_equal_full(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    boxes = [(0, 0, 5, 5), (27, 27, 40, 40), (10, 3, 16, 9), (-3, 20, 4, 26), (12, 12, 20, 20)]
    for box in boxes:
        want = insp.occlude(image, box=box, method="full")
        got = insp.occlude(image, box=box, method="incremental")
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert insp.occlusion_stats.move.mode == "incremental"
    assert insp.occlusion_stats.move.speedup is not None
    mask = np.zeros((32, 32), bool)
    mask[3:9, 20:22] = True
    mask[7, 14] = True
    np.testing.assert_allclose(insp.occlude(image, box=(1, 1, 3, 3), mask=mask, method="incremental"),
                               insp.occlude(image, box=(1, 1, 3, 3), mask=mask, method="full"), atol=1e-6)
    np.testing.assert_allclose(insp.occlude(image, mask=np.zeros((32, 32), bool), method="incremental"),
                               insp.predict(image), atol=1e-6)


def test_approximate_sweep_reports_its_deviation(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    approx = insp.occlusion_map(image, 1, patch=6, stride=2, method="approximate", tau=0.6,
                                drill_down=DrillDown(coarse=2, keep=0.3), report_deviation=True)
    run = insp.occlusion_stats.sweep
    exact = insp.occlusion_map(image, 1, patch=6, stride=2)
    assert run.mode == "approximate" and run.deviation is not None
    assert run.deviation["spearman"] == pytest.approx(spearman(approx, exact))
    assert run.deviation["max_abs"] == pytest.approx(float(np.abs(approx - exact).max()), rel=1e-5)
    assert run.positions < 15 * 15
    assert run.deviation["spearman"] > 0.5


def test_approximate_with_tau_one_and_full_keep_is_exact(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    exact = insp.occlusion_map(image, 2, patch=6, stride=3)
    approx = insp.occlusion_map(image, 2, patch=6, stride=3, method="approximate", tau=1.0,
                                drill_down=DrillDown(coarse=2, keep=1.0))
    np.testing.assert_allclose(approx, exact, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(method="fast"), dict(method="approximate", tau=0.0),
                                    dict(method="approximate", tau=1.5),
                                    dict(method="approximate", drill_down=DrillDown(coarse=0))])
def test_bad_occlusion_options_are_typed_errors(small_cnn, kwargs):
    model, image = small_cnn
    with pytest.raises(cw.InvalidParameterError):
        cw.Inspector(model).occlusion_map(image, 0, patch=6, stride=3, **kwargs)


def test_drill_down_refines_the_largest_estimated_drops():
    dd = DrillDown(coarse=2, keep=0.5)
    iy, ix = dd.coarse_indices(5), dd.coarse_indices(4)
    assert list(iy) == [0, 2, 4] and list(ix) == [0, 2, 3]
    coarse = np.zeros((3, 3))
    coarse[1, 1] = 1.0  # fine (2, 2)
    estimates, chosen = dd.refine(coarse, iy, ix, (5, 4))
    assert estimates[2, 2] == 1.0 and estimates[1, 2] == 0.5 and estimates[2, 1] == 0.5
    assert chosen.sum() == round(0.5 * (20 - 9)) and chosen[1, 2] and chosen[2, 1] and not chosen[0, 0]


def test_spearman_matches_a_brute_force_rank_correlation():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    b[:10] = a[:10]
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    n = a.size
    want = 1 - 6 * np.sum((ra - rb) ** 2) / (n * (n * n - 1))
    assert spearman(a, b) == pytest.approx(want)
    assert spearman(a, a) == pytest.approx(1.0)


def test_auto_computes_in_full_until_the_incremental_pass_is_compiled(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    want = insp.occlusion_map(image, 3, patch=6, stride=3, method="full")
    insp.clear_cache()
    got = insp.occlusion_map(image, 3, patch=6, stride=3)  # auto: not compiled yet
    assert insp.occlusion_stats.sweep.mode == "full"
    assert "background" in insp.occlusion_stats.sweep.reason
    plan = insp._incremental.plan((6, 6))
    assert plan.ready.wait(120), "the background warm-up never finished"
    insp.clear_cache()
    got = insp.occlusion_map(image, 3, patch=6, stride=3)
    assert insp.occlusion_stats.sweep.mode == "incremental"
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert insp.trace_counts["incremental"] == 1


def test_auto_stops_using_a_plan_measured_slower_than_full(small_cnn):
    model, image = small_cnn
    insp = cw.Inspector(model)
    insp.occlusion_map(image, 3, patch=6, stride=3, method="incremental")
    plan = insp._incremental.plan((6, 6))
    assert plan.speedups["sweep"] == insp.occlusion_stats.sweep.speedup
    plan.speedups["sweep"] = 0.5  # as if incremental had lost on this machine
    insp.clear_cache()
    insp.occlusion_map(image, 3, patch=6, stride=3)
    run = insp.occlusion_stats.sweep
    assert run.mode == "full" and "0.50x of full speed" in run.reason and "0.50x" in run.summary()
