"""Part 1: tensors and data (to_tensor, normalize, flatten, one_hot)."""

import pytest
import torch

from grader.suites.compare import expect_close


def _images(rng, n):
    """Random uint8 MNIST-like images (N, 28, 28) that contain both 0 and 255."""
    images = torch.randint(0, 256, (n, 28, 28), generator=rng, dtype=torch.uint8)
    images[0, 0, 0], images[-1, -1, -1] = 0, 255
    return images


# -- to_tensor ----------------------------------------------------------------------------------

NESTED = {
    "ints": [1, 2, 3, -4],
    "floats": [0.5, -1.25, 3.0],
    "nested": [[1.5, -2.0, 0.0], [3.25, 4.0, -0.125]],
    "deep": [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[-1, 0], [0, 1]]],
}


@pytest.mark.parametrize("case", list(NESTED))
def test_to_tensor_values(student, reference, case):
    values = NESTED[case]
    expected = reference.to_tensor(values)
    expect_close(student.to_tensor(values), expected, what=f"to_tensor({values})", rtol=0, atol=0,
                 dtype=torch.float32)


def test_to_tensor_random_nested(student, reference, rng):
    values = (torch.randn(3, 4, generator=rng) * 10).tolist()
    expect_close(student.to_tensor(values), reference.to_tensor(values),
                 what="to_tensor of a 3x4 nested list of random floats", dtype=torch.float32)


# -- normalize ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 5, 64])
def test_normalize_values(student, reference, rng, n):
    images = _images(rng, n)
    expect_close(
        student.normalize(images), reference.normalize(images),
        what=f"normalize(images) for uint8 images of shape {tuple(images.shape)}", dtype=torch.float32,
        hints={
            "looks like [0, 1] scaling (images / 255); the contract maps [0, 255] to [-1, 1]":
                lambda: images.float() / 255,
            "divides by 128 instead of 127.5": lambda: images.float() / 128 - 1,
            "looks like (images - 127.5) / 255, which maps to [-0.5, 0.5]":
                lambda: (images.float() - 127.5) / 255,
            "the arithmetic wrapped around in uint8 (images * 2 overflows); convert to float32 first":
                lambda: (images * 2) / 255 - 1,
        })


def test_normalize_endpoints(student):
    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    images[0, 3, 4], images[1] = 255, 255
    out = student.normalize(images)
    expected = torch.full((2, 28, 28), -1.0)
    expected[0, 3, 4], expected[1] = 1.0, 1.0
    expect_close(out, expected, what="normalize maps 0 to -1 and 255 to 1", rtol=0, atol=1e-6,
                 dtype=torch.float32,
                 hints={"maps 0 to 0 and 255 to 1 ([0, 1] scaling); the contract maps to [-1, 1]":
                        lambda: images.float() / 255})


# -- flatten ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 7, 32])
def test_flatten_values(student, reference, rng, n):
    images = torch.randn(n, 28, 28, generator=rng)
    expect_close(
        student.flatten(images), reference.flatten(images),
        what=f"flatten(images) for images of shape {tuple(images.shape)}", rtol=0, atol=0,
        hints={"column-major order (transposed rows): out[i, 28*r + c] must be images[i, r, c]":
               lambda: images.transpose(1, 2).reshape(n, 784)})


def test_flatten_single_image(student, reference, rng):
    images = torch.randn(1, 28, 28, generator=rng)
    expect_close(student.flatten(images), reference.flatten(images),
                 what="flatten(images) for one image of shape (1, 28, 28) (keep the batch dimension)",
                 rtol=0, atol=0,
                 hints={"column-major order (transposed rows)": lambda: images.transpose(1, 2).reshape(1, 784)})


# -- one_hot ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 8, 100])
def test_one_hot_values(student, reference, rng, n):
    labels = torch.randint(0, 10, (n,), generator=rng)
    labels[0] = 9  # every case has the last class
    expect_close(student.one_hot(labels), reference.one_hot(labels),
                 what=f"one_hot(labels) for {n} labels in 0..9", rtol=0, atol=0, dtype=torch.float32,
                 hints={"the 1 is in row labels[i] instead of column labels[i] (transposed)":
                        lambda: reference.one_hot(labels).T})


@pytest.mark.parametrize("num_classes", [3, 13])
def test_one_hot_num_classes(student, reference, rng, num_classes):
    # The labels never reach the last class, so num_classes (not labels.max() + 1) sets the width.
    labels = torch.randint(0, num_classes - 1, (20,), generator=rng)
    expect_close(student.one_hot(labels, num_classes=num_classes),
                 reference.one_hot(labels, num_classes=num_classes),
                 what=f"one_hot(labels, num_classes={num_classes}) for labels below {num_classes - 1}",
                 rtol=0, atol=0, dtype=torch.float32)


def test_one_hot_default_classes(student, reference, rng):
    labels = torch.randint(0, 5, (12,), generator=rng)
    expect_close(student.one_hot(labels), reference.one_hot(labels),
                 what="one_hot(labels) with the default num_classes=10 for labels in 0..4",
                 rtol=0, atol=0, dtype=torch.float32)
