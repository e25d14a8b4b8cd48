"""Chapter 01, ``normalize(x)``: [B, 3, H, W] in [0, 1] -> (x - mean) / std, ImageNet RGB."""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms as T

from nst_helpers import images

from . import CAFFE_MEAN_BGR, MEAN, STD, Case

C = "check_normalize"


def pytorch_tutorial(img):
    # PyTorch NST tutorial, class Normalization: [3, 1, 1] statistics broadcast over the batch.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    return (img - mean) / std


def d2l(x):
    # d2l 14.12 preprocess: torchvision's Normalize with rgb_mean / rgb_std.
    return T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])(x)


def solution(x):
    mean = torch.tensor(images.IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(images.IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def keras_caffe(x):
    # TensorFlow tutorial: vgg19.preprocess_input(inputs * 255) ("caffe" mode: RGB -> BGR,
    # subtract the mean pixel, no scaling by std).
    return x.flip(1) * 255 - CAFFE_MEAN_BGR


def neural_style(x):
    # jcjohnson/neural-style preprocess (and neural-style-pt): BGR, * 256, minus the mean pixel.
    return x[:, [2, 1, 0]] * 256 - CAFFE_MEAN_BGR


def gatys_port(x):
    # leongatys/PytorchNeuralStyleTransfer prep: BGR, Normalize(mean_bgr / 255, std=1), * 255.
    mean = torch.tensor([0.40760392, 0.45795686, 0.48501961]).view(1, 3, 1, 1)
    return (x[:, [2, 1, 0]] - mean) * 255


def caffe_rgb(x):
    # The Caffe mean pixel kept in RGB order (several ports of neural-style do this).
    return x * 255 - CAFFE_MEAN_BGR.flip(1)


def pytorch_examples(batch):
    # pytorch/examples fast_neural_style utils.normalize_batch: expects 0-255, divides in place.
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


def numpy_constants(x):
    # float64 arrays: the result is float64, and VGG's float32 weights then refuse it.
    mean = torch.from_numpy(np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
    std = torch.from_numpy(np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))
    return (x - mean) / std


def in_place(x):
    x -= MEAN
    return x / STD


def flat_stats(x):
    return (x - MEAN.flatten()) / STD.flatten()


def detached(x):
    return ((x - MEAN) / STD).detach()


CASES = [
    Case(C, images.normalize, True, "normalize is correct", "library"),
    Case(C, solution, True, "normalize is correct", "solution"),
    Case(C, pytorch_tutorial, True, "normalize is correct", "pytorch-tutorial"),
    Case(C, d2l, True, "normalize is correct", "d2l-torchvision-normalize"),
    Case(C, lambda x: x, False, "returns its input unchanged", "identity"),
    Case(C, lambda x: torch.rand_like(x), False, "differs from the reference", "random"),
    Case(C, keras_caffe, False, "Caffe", "tf-tutorial-keras-caffe"),
    Case(C, neural_style, False, "Caffe", "neural-style-256"),
    Case(C, gatys_port, False, "Caffe", "gatys-port"),
    Case(C, caffe_rgb, False, "Caffe", "caffe-mean-in-rgb"),
    Case(C, pytorch_examples, False, "in place", "pytorch-examples-normalize-batch"),
    Case(C, numpy_constants, False, "float64", "numpy-float64-constants"),
    Case(C, in_place, False, "in place", "in-place-subtract"),
    Case(C, lambda x: x - MEAN, False, "does not divide by the std", "no-std"),
    Case(C, lambda x: x - MEAN / STD, False, "precedence", "precedence"),
    Case(C, lambda x: (x - MEAN.flip(1)) / STD.flip(1), False, "BGR", "bgr-statistics"),
    Case(C, lambda x: (x - x.mean()) / x.std(), False, "own mean", "per-image-statistics"),
    Case(C, flat_stats, False, "[1, 3, 1, 1]", "broadcast-over-width"),
    Case(C, detached, False, "gradient", "detached"),
    Case(C, lambda x: ((x - MEAN) / STD)[0], False, "shape", "drops-batch"),
]
