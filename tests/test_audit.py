"""cw.audit and SpRAy clustering: sources, engines' shared batch, storage, references, the tank story."""

import threading

import numpy as np
import pytest

import cnnwidgets as cw
from cnnwidgets.backend.audit import AuditResult
from cnnwidgets.backend.audit.clustering import spray, unit_mass
from cnnwidgets.backend.images import resize_map
from cnnwidgets.demo import TANK_CLASS_NAMES, tank_data, tank_sky_mask, train_tank_model


@pytest.fixture(scope="module")
def digits():
    images, labels = cw.demo.digits_samples()
    return cw.demo.digits_model(), images[:24], labels[:24]


# ------------------------------------------------------------------ the tank story
@pytest.fixture(scope="module")
def tank_models():
    flawed = train_tank_model(*tank_data(400, confounded=True, seed=0), epochs=12, seed=0)
    fair = train_tank_model(*tank_data(400, confounded=False, seed=3), epochs=12, seed=0)
    return flawed, fair


@pytest.fixture(scope="module")
def field():
    return tank_data(200, confounded=False, seed=2)  # photos in random weather


def _sky_clusters(result):
    sky = tank_sky_mask()
    return {TANK_CLASS_NAMES[c]: [cl.share(sky) for cl in result.clusters(c).clusters] for c in result.classes()}


def _sunny(images):
    return images[:, :9, :, 2].mean(axis=(1, 2)) > 180  # bright blue sky (the audit never sees this)


def test_spray_finds_the_sky_shortcut_of_the_confounded_model(tank_models, field):
    """Default audit (each photo explained for its predicted class): a cluster sits on the sky."""
    images, labels = field
    result = cw.audit(tank_models[0], images, class_names=TANK_CLASS_NAMES, map_size=(16, 16))
    assert result.labels is None
    sky = tank_sky_mask()
    assert sky.mean() < 0.3  # a map spread evenly would put 28% of its mass on the sky
    found = [(name, cl) for name in TANK_CLASS_NAMES for cl in result.clusters(name).clusters
             if cl.share(sky) >= 0.7]
    assert found, _sky_clusters(result)
    for name, cluster in found:
        # the shortcut: "forest" means "sunshine"; the cluster is sunny photos, tanks among them
        assert name == "forest" and _sunny(images[cluster.rows]).mean() > 0.9
        assert (labels[cluster.rows] == 1).any()
    # the flawed model's evidence for "tank" is not the sky but the dim light on the forest
    assert max(_sky_clusters(result)["tank"]) < 0.3


def test_spray_protocol_with_labels_splits_sunny_from_cloudy_forests(tank_models, field):
    """SpRAy's protocol (each photo explained for its true class): the forest class splits by weather."""
    images, labels = field
    result = cw.audit(tank_models[0], field, class_index="label", class_names=TANK_CLASS_NAMES)
    forest = result.clusters("forest")
    sky = tank_sky_mask()
    sunny_clusters = [c for c in forest.clusters if _sunny(images[c.rows]).mean() > 0.9]
    cloudy_clusters = [c for c in forest.clusters if _sunny(images[c.rows]).mean() < 0.1]
    assert sunny_clusters and cloudy_clusters and len(sunny_clusters) + len(cloudy_clusters) == forest.n_clusters
    assert all(c.share(sky) >= 0.7 for c in sunny_clusters)


def test_spray_finds_no_sky_cluster_for_the_fair_model(tank_models, field):
    for class_index in ("predicted", "label"):
        result = cw.audit(tank_models[1], field, class_index=class_index, class_names=TANK_CLASS_NAMES)
        shares = _sky_clusters(result)
        assert max(max(v) for v in shares.values()) < 0.7, shares


# ------------------------------------------------------------- maps and sources
def test_maps_match_a_plain_loop_over_gradcam(digits):
    model, images, labels = digits
    insp = cw.Inspector.for_model(model)
    result = cw.audit(model, images, batch_size=5, map_size=(7, 7))
    assert len(result) == len(images) and result.maps.shape == (24, 7, 7) and result.complete
    for i in (0, 7, 23):
        expected = resize_map(insp.explain(images[i], "gradcam", upsample=False), (7, 7))
        np.testing.assert_allclose(result.maps[i], expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.probabilities[i], insp.predict(images[i]), rtol=1e-5, atol=1e-6)
    assert np.array_equal(result.targets, result.probabilities.argmax(1))
    native = cw.audit(model, images[:3], map_size=None)
    assert native.maps.shape[1:] == insp.layer(insp.default_cam_layer).output_shape[:2]


def test_any_catalogue_method_and_a_fixed_class(digits):
    model, images, _ = digits
    for spec in cw.methods():
        params = {"samples": 2} if "samples" in spec.params else {}
        if "steps" in spec.params:
            params["steps"] = 4
        result = cw.audit(model, images[:2], method=spec.name, class_index=3, map_size=(8, 8), **params)
        assert result.maps.shape == (2, 8, 8) and np.isfinite(result.maps).all(), spec.name
        assert (result.targets == 3).all() and result.meta["method"] == spec.name


def test_dataset_and_folder_sources_give_the_same_maps(digits, tmp_path):
    import tensorflow as tf
    from PIL import Image

    model, images, labels = digits
    reference = cw.audit(model, (images, labels), class_index="label", map_size=(7, 7))
    assert np.array_equal(reference.labels, labels) and np.array_equal(reference.targets, labels)
    pairs = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels))
    for data in (pairs, pairs.batch(7), tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})):
        got = cw.audit(model, data, class_index="label", batch_size=10, map_size=(7, 7))
        np.testing.assert_allclose(got.maps, reference.maps, rtol=1e-4, atol=1e-6)
        assert np.array_equal(got.labels, labels)
    unknown_length = tf.data.Dataset.from_tensor_slices(images).filter(lambda x: True)
    assert len(cw.audit(model, unknown_length, map_size=(7, 7))) == len(images)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / str(label)
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.reshape(28, 28).astype(np.uint8)).save(folder / f"{i:03d}.png")
    got = cw.audit(model, tmp_path, class_index="label", batch_size=10, map_size=(7, 7))
    order = np.argsort([f"{lab}/{i:03d}" for i, lab in enumerate(labels)])  # the folder is read sorted
    np.testing.assert_allclose(got.maps, reference.maps[order], rtol=1e-4, atol=1e-5)
    assert np.array_equal(got.labels, labels[order])
    assert got.image(0).shape == (28, 28, 1)


def test_results_spill_to_disk_and_reopen(digits, tmp_path):
    model, images, labels = digits
    in_memory = cw.audit(model, (images, labels), batch_size=8)
    assert not in_memory.on_disk
    spilled = cw.audit(model, (images, labels), batch_size=8, memory_limit=10_000, directory=tmp_path / "spill")
    assert spilled.on_disk and spilled.directory == tmp_path / "spill"
    for name in ("probabilities", "targets", "labels", "maps", "thumbnails"):
        np.testing.assert_array_equal(getattr(spilled, name), getattr(in_memory, name))
    saved = in_memory.save(tmp_path / "saved")
    reopened = AuditResult.open(saved, inspector=model)
    assert reopened.on_disk and reopened.inspector is cw.Inspector.for_model(model)
    np.testing.assert_array_equal(reopened.maps, in_memory.maps)
    assert reopened.meta["method"] == "gradcam" and len(reopened) == len(images)
    a, b = reopened.clusters(int(labels[0])), in_memory.clusters(int(labels[0]))
    assert np.array_equal(a.labels, b.labels)


def test_progress_and_stop(digits):
    model, images, _ = digits
    calls, stop = [], threading.Event()

    def progress(done, total):
        calls.append((done, total))
        if done >= 10:
            stop.set()

    result = cw.audit(model, images, batch_size=5, progress=progress, cancel=stop)
    assert calls == [(5, 24), (10, 24)]
    assert len(result) == 10 and not result.complete and "stopped" in repr(result)


def test_summary_statistics(digits):
    model, images, labels = digits
    result = cw.audit(model, (images, labels))
    stats = result.summary()
    probs = result.probabilities
    assert np.array_equal(stats["predicted"], probs.argmax(1))
    np.testing.assert_allclose(stats["confidence"], probs.max(1))
    assert np.array_equal(stats["correct"], probs.argmax(1) == labels)
    assert ((0 <= stats["spread"]) & (stats["spread"] <= 1 + 1e-6)).all()
    np.testing.assert_allclose(stats["mass"], np.clip(result.maps, 0, None).sum((1, 2)), rtol=1e-5)


def test_bad_input_gets_typed_errors(digits, tmp_path):
    model, images, _ = digits
    with pytest.raises(cw.InvalidParameterError, match="engine"):
        cw.audit(model, images, engine="spark")
    with pytest.raises(cw.UnknownMethodError):
        cw.audit(model, images, method="nope")
    with pytest.raises(cw.InvalidParameterError, match="needs labels"):
        cw.audit(model, images, class_index="label")
    with pytest.raises(cw.ClassNotFoundError):
        cw.audit(model, images, class_index=99)
    with pytest.raises(cw.InvalidParameterError, match="map_size"):
        cw.audit(model, images, map_size=(0, 4))
    with pytest.raises(cw.InvalidImageError, match="no image files"):
        cw.audit(model, tmp_path)
    with pytest.raises(cw.InvalidParameterError, match="cannot audit"):
        cw.audit(model, object())
    with pytest.raises(cw.InvalidParameterError, match="labels"):
        cw.audit(model, images, labels=[1, 2])
    with pytest.raises(cw.InvalidParameterError, match="audit.json"):
        AuditResult.open(tmp_path)


# --------------------------------------------------------------- SpRAy reference
def _blob(rows, cols, size=12, noise=0.05, count=20, seed=0):
    rng = np.random.default_rng(seed)
    maps = rng.random((count, size, size)) * noise
    maps[:, rows, cols] += 1.0
    return maps


def test_spray_recovers_planted_groups_and_ranks_the_odd_one_first():
    # 40 maps on the centre, 12 on the top edge (the "shortcut"), 30 on the left edge
    maps = np.concatenate([_blob(slice(4, 8), slice(4, 8), count=40, seed=1),
                           _blob(slice(0, 2), slice(0, 12), count=12, seed=2),
                           _blob(slice(0, 12), slice(0, 2), count=30, seed=3)])
    truth = np.repeat([0, 1, 2], [40, 12, 30])
    rows = np.arange(100, 100 + len(maps))
    found = spray(maps, rows, class_index=1, seed=0)
    assert found.n_clusters == 3  # read from the eigengap
    groups = {tuple(sorted(set(truth[found.labels == k]))) for k in range(3)}
    assert groups == {(0,), (1,), (2,)}
    typical = unit_mass(maps).mean(0)
    for cluster in found.clusters:  # distances against a float64 brute-force reference
        members = np.isin(rows, cluster.rows)
        expected = 0.5 * np.abs(unit_mass(maps[members]).mean(0) - typical).sum()
        assert cluster.distance == pytest.approx(expected, rel=1e-6)
        np.testing.assert_allclose(cluster.mean_map.sum(), 1.0, rtol=1e-5)
    assert [c.distance for c in found.clusters] == sorted((c.distance for c in found.clusters), reverse=True)
    assert found.embedding.shape == (len(maps), 2)
    assert found.cluster_of(100).size == 40
    assert spray(maps, rows, 1, n_clusters=2).n_clusters == 2
    assert spray(maps, rows, 1, embedding="tsne").embedding.shape == (len(maps), 2)
    with pytest.raises(cw.InvalidParameterError, match="embedding"):
        spray(maps, rows, 1, embedding="umap")
