"""Convolution vs cross-correlation, and viz=kernels: hand-designed filters on photographs
through cnnlab's own conv layer, checked against SciPy's independent implementations."""

import keras
import mlflow
import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
from support.compose import compose_config

from cnnlab import reference
from cnnlab.errors import ConfigError
from cnnlab.visualize import visualize
from cnnlab.viz import kernels
from cnnlab.viz.inputs import photo

RNG = np.random.default_rng(0)
IMAGE = RNG.normal(size=(7, 9))
ASYMMETRIC = RNG.normal(size=(3, 2))  # flipping it changes it


def test_correlate_and_convolve_match_scipy():
    assert np.allclose(
        reference.correlate(IMAGE, ASYMMETRIC), scipy.signal.correlate2d(IMAGE, ASYMMETRIC, "valid")
    )
    assert np.allclose(
        reference.convolve(IMAGE, ASYMMETRIC), scipy.signal.convolve2d(IMAGE, ASYMMETRIC, "valid")
    )
    assert not np.allclose(
        reference.correlate(IMAGE, ASYMMETRIC), reference.convolve(IMAGE, ASYMMETRIC)
    )


def test_stride_and_padding_of_correlate():
    padded = scipy.signal.correlate2d(np.pad(IMAGE, 1), ASYMMETRIC, "valid")
    assert np.allclose(reference.correlate(IMAGE, ASYMMETRIC, stride=2, pad=1), padded[::2, ::2])


def test_keras_conv2d_cross_correlates():
    layer = keras.layers.Conv2D(1, ASYMMETRIC.shape, use_bias=False)
    layer.build((None, *IMAGE.shape, 1))
    layer.kernel.assign(ASYMMETRIC[:, :, None, None])
    out = keras.ops.convert_to_numpy(layer(IMAGE[None, :, :, None].astype("float32")))[0, :, :, 0]
    assert np.allclose(out, reference.correlate(IMAGE, ASYMMETRIC), atol=1e-5)


def test_photo_is_a_real_grey_photograph_in_unit_range():
    camera = photo("camera", (64, 64, 1))
    assert camera.shape == (64, 64, 1) and camera.dtype == np.float32
    assert 0 <= camera.min() < 0.1 and 0.9 < camera.max() <= 1  # dark coat, bright sky
    assert photo("astronaut", (32, 48, 3)).shape == (32, 48, 3)  # centre-cropped to 2:3
    with pytest.raises(ConfigError, match=r"photo 'lena' is not one of skimage\.data's: astronaut"):
        photo("lena", (8, 8, 1))


@pytest.mark.parametrize("name", list(kernels.KERNELS))
def test_each_kernel_through_the_conv_layer_equals_scipy_on_a_photo(name):
    image = photo("camera", (48, 48, 1))[..., 0]
    kernel = kernels.KERNELS[name]
    expected = scipy.ndimage.correlate(image.astype(np.float64), kernel, mode="constant")
    assert np.allclose(kernels.apply(kernel, image), expected, atol=1e-5)


def test_edge_kernels_respond_only_at_the_edge_with_the_notes_sign():
    step = np.repeat([[10.0] * 4 + [0.0] * 4], 8, axis=0)  # Ng's bright | dark image
    inside = slice(1, -1)  # away from the zero padding
    vertical = kernels.apply(kernels.KERNELS["vertical_edge"], step)[inside, inside]
    assert np.array_equal(vertical[0], [0, 0, 30, 30, 0, 0])  # Ng's 30-wide band
    sobel_x = kernels.apply(kernels.KERNELS["sobel_x"], step)[inside, inside]
    assert np.array_equal(sobel_x[0], [0, 0, -40, -40, 0, 0])  # brightness falls to the right
    assert not kernels.apply(kernels.KERNELS["sobel_y"], step)[inside, inside].any()
    blurred = kernels.apply(kernels.KERNELS["box"], step)[inside, inside]
    assert np.allclose(blurred[0], [10, 10, 20 / 3, 10 / 3, 0, 0])


def test_viz_kernels_shows_photo_kernel_and_output_and_logs_them(tmp_path, mlflow_dir):
    uri = f"sqlite:///{mlflow_dir}/mlflow.db"
    cfg = compose_config(
        "visualize",
        "viz=kernels",
        "viz.photos=[camera,coffee]",
        "viz.kernels=[box,sobel_x]",
        "viz.side=32",
        f"tracking.uri={uri}",
        f"tracking.artifact_location={tmp_path}/artifacts",
        "tracking.experiment=kernels-test",
    )
    result = visualize(cfg, tmp_path / "out")
    figure = result.pictures.figures["kernels.png"]
    axes = np.array(figure.axes).reshape(3, 3)  # photos; box row; sobel_x row
    coffee = photo("coffee", (32, 32, 1))[..., 0]
    assert np.allclose(axes[0, 2].images[0].get_array(), coffee)
    assert np.allclose(axes[2, 0].images[0].get_array(), kernels.KERNELS["sobel_x"])
    expected = scipy.ndimage.correlate(
        coffee.astype(np.float64), kernels.KERNELS["sobel_x"], mode="constant"
    )
    assert np.allclose(axes[2, 2].images[0].get_array(), expected, atol=1e-5)
    assert (tmp_path / "out" / "kernels.png").stat().st_size > 10_000
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["kernels-test"], output_format="list")
    assert run.data.tags["viz"] == "kernels"
    assert run.data.metrics["mean_abs_sobel_x"] == pytest.approx(
        result.pictures.metrics["mean_abs_sobel_x"]
    )
    assert [
        a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "viz/kernels")
    ] == ["viz/kernels/kernels.png"]


def test_viz_kernels_names_an_unknown_kernel():
    with pytest.raises(
        ConfigError,
        match=r"viz.kernels=\['laplace'\] is invalid: expected a non-empty list of box, gaussian",
    ):
        visualize(compose_config("visualize", "viz=kernels", "viz.kernels=[laplace]"))


def test_without_a_run_the_visualizations_look_at_photographs():
    from cnnlab.config.viz import DEFAULT_PHOTOS, ImagesConfig
    from cnnlab.viz.inputs import select

    chosen = select(ImagesConfig(), (32, 32, 3), None)
    assert chosen.names == list(DEFAULT_PHOTOS)
    np.testing.assert_array_equal(chosen.images[1], photo("coffee", (32, 32, 3)))


def test_style_transfer_takes_a_photograph_as_its_default_style():
    from cnnlab.config.viz import StyleTransferConfig
    from cnnlab.visualize import style_image

    assert StyleTransferConfig().style == "photo:coffee"
    np.testing.assert_array_equal(
        style_image("photo:coffee", (28, 28, 1), None), photo("coffee", (28, 28, 1))
    )
    with pytest.raises(
        ConfigError, match=r"viz.style='photo:lena' is invalid: expected a file, photo:<astronaut"
    ):
        StyleTransferConfig(style="photo:lena")
