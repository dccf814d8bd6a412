"""The test-time-augmentation modes are one list (`cnnlab.config.augment.TestTime`) that the
views, their counts and the evaluate pipeline's choices all follow."""

import pytest
import tensorflow as tf

from cnnlab.config import augment
from cnnlab.config.run import EvaluateTestTime
from cnnlab.data.test_views import TEST_TIME_VIEWS, tta_views


@pytest.mark.parametrize("mode", list(augment.TestTime))
def test_each_mode_makes_as_many_views_as_its_count_says(mode):
    batch = tf.zeros((3, 10, 10, 1))
    assert tta_views(batch, (8, 8), mode).shape[0] == TEST_TIME_VIEWS[mode] * 3


def test_the_view_counts_cover_exactly_the_modes():
    assert set(TEST_TIME_VIEWS) == set(augment.TestTime)
    assert TEST_TIME_VIEWS["ten_crop"] == 10  # the config's string finds the same entry


def test_evaluate_offers_the_modes_that_need_no_larger_loaded_image():
    assert set(EvaluateTestTime) == set(augment.TestTime) - {augment.TestTime.ten_crop}
