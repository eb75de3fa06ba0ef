"""engine="ray": a local Ray with 2 CPUs gives the same maps and clusters as the default engine."""

import os

import numpy as np
import pytest

import cnnwidgets as cw
from cnnwidgets.backend.audit.ray_engine import ensure_ray

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    """Start a local Ray for this module and check that shutting it down leaves no process behind."""
    assert not ray.is_initialized(), "another test left Ray running"
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    ensure_ray(num_cpus=2, attempts=3)  # a local Ray; more tries if a busy machine made a start fail
    assert ray.is_initialized()
    node = ray._private.worker._global_node
    pids = [info.process.pid for infos in node.all_processes.values() for info in infos]
    yield
    ray.shutdown()
    alive = []
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap our own children
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    assert not alive, f"Ray processes left running: {alive}"


def test_ray_engine_gives_the_default_engines_maps_and_clusters(local_ray, tmp_path):
    images, labels = cw.demo.digits_samples()
    images, labels = images[:48], labels[:48]
    model = cw.demo.digits_model()
    local = cw.audit(model, (images, labels), batch_size=16, map_size=(7, 7))
    distributed = cw.audit(model, (images, labels), batch_size=16, map_size=(7, 7), engine="ray")
    assert distributed.meta["engine"] == "ray" and distributed.complete and len(distributed) == len(images)
    np.testing.assert_allclose(distributed.maps, local.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(distributed.probabilities, local.probabilities, rtol=1e-5, atol=1e-7)
    for name in ("targets", "labels", "thumbnails"):
        np.testing.assert_array_equal(getattr(distributed, name), getattr(local, name))
    for class_index in local.classes():
        if len(local.rows(class_index)) >= 4:
            a, b = local.clusters(class_index, seed=0), distributed.clusters(class_index, seed=0)
            np.testing.assert_array_equal(a.labels, b.labels)
            assert [c.size for c in a.clusters] == [c.size for c in b.clusters]
    # a ray.data.Dataset with image and label columns, as a cluster user would pass one
    dataset = ray.data.from_items([{"image": image, "label": int(label)} for image, label in zip(images, labels)])
    given = cw.audit(model, dataset, class_index="label", batch_size=16, map_size=(7, 7), engine="ray")
    reference = cw.audit(model, (images, labels), class_index="label", batch_size=16, map_size=(7, 7))
    np.testing.assert_allclose(given.maps, reference.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(given.labels, labels)


def test_ray_engine_explains_targets_like_the_default_engine(local_ray):
    """A segmenter (a model saved and loaded in each actor), a Region per image from masks and from a list."""
    import keras

    from cnnwidgets.targets import PerImage, Region

    images, masks = cw.demo.tank_scenes(20, tank_share=0.8, seed=5)
    keras.utils.set_random_seed(3)
    layers = keras.layers
    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(layers.Rescaling(1 / 255)(inp))
    model = keras.Model(inp, layers.Softmax(name="probs")(layers.Conv2D(2, 1, name="logits")(x)))
    per_image = PerImage(lambda image, mask: Region(1, mask))
    local = cw.audit(model, (images, masks), "gradcam", per_image, layer="conv", batch_size=8, map_size=(8, 8))
    for targets in (per_image, [Region(1, m) for m in masks]):
        distributed = cw.audit(model, (images, masks), "gradcam", targets, layer="conv", batch_size=8,
                               map_size=(8, 8), engine="ray")
        assert distributed.complete and distributed.meta["output_kind"] == "map"
        for name in ("maps", "scores", "probabilities"):
            np.testing.assert_allclose(getattr(distributed, name), getattr(local, name), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(distributed.labels, masks)
    dataset = ray.data.from_items([{"image": image} for image in images])
    with pytest.raises(cw.InvalidParameterError, match="PerImage"):
        cw.audit(model, dataset, "gradcam", [Region(1, m) for m in masks], layer="conv", engine="ray")
