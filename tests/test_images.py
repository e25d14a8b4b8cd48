"""images.py: loading every kind of input, colour modes, the tensor layout and its round trip."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from nst_helpers import images
from nst_helpers.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    denormalize,
    image_to_tensor,
    load_image,
    normalize,
    pixel_bounds,
    save_image,
    tensor_to_image,
)

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def _png_bytes(img: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **params)
    return buf.getvalue()


def _random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---- sources ----------------------------------------------------------------------------------


def test_imagenet_constants() -> None:
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("kind", ["str", "path", "bytes", "bytearray", "pil"])
def test_load_image_accepts_every_source_kind(kind: str, tmp_path: Path) -> None:
    arr = _random_rgb(12, 20)
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    source = {
        "str": str(path),
        "path": path,
        "bytes": path.read_bytes(),
        "bytearray": bytearray(path.read_bytes()),
        "pil": Image.fromarray(arr),
    }[kind]
    img = load_image(source)
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), arr)


def test_load_image_does_not_modify_a_given_pil_image() -> None:
    src = Image.fromarray(_random_rgb(8, 8)).convert("RGBA")
    out = load_image(src)
    assert src.mode == "RGBA" and out.mode == "RGB"
    assert out is not src


def test_load_image_bundled_sample_name() -> None:
    img = load_image("chelsea")
    assert img.mode == "RGB"
    assert min(img.size) > 32


def test_load_image_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(missing)


def test_load_image_unknown_sample_name_lists_samples() -> None:
    with pytest.raises(FileNotFoundError, match="chelsea"):
        load_image("no_such_sample_name")


def test_load_image_wrong_type() -> None:
    with pytest.raises(TypeError, match="int"):
        load_image(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_size", [0, -3, 2.5, "64"])
def test_load_image_rejects_bad_max_size(max_size) -> None:
    with pytest.raises(ValueError, match="max_size"):
        load_image(Image.new("RGB", (4, 4)), max_size=max_size)


# ---- unreadable inputs: ImageError (a ValueError) naming the file and the reason ------------


def _truncated_png(tmp_path: Path) -> Path:
    data = _png_bytes(Image.fromarray(_random_rgb(64, 64)))
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(_random_rgb(64, 64)).save(buf, format="JPEG")
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    return path


def _empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.png"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_text_file, "unknown format"),
        (_truncated_png, "truncated"),
        (_truncated_jpeg, "truncated"),
        (_empty_file, "empty"),
        (_directory, "directory"),
    ],
)
def test_unreadable_file_raises_image_error(make, reason: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert path.name in message
    assert reason in message


@pytest.mark.parametrize("data", [b"", b"GIF89a-but-not-really", b"\x00" * 100])
def test_unreadable_bytes_raise_image_error(data: bytes) -> None:
    with pytest.raises(ImageError, match="given bytes"):
        load_image(data)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _bomb_png(side: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``side x side`` zeros: a few kB on disk, ``side**2``
    bytes (and three times that as RGB) once decoded."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [12_000, 20_000])  # 144 MP (our limit), 400 MP (Pillow's)
def test_decompression_bomb_is_refused_without_decoding(
    side: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(side))
    assert path.stat().st_size < 200_000  # tiny on disk, side**2 bytes once decoded

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("load_image decoded the pixels of a decompression bomb")

    # It must be refused from its header alone: any attempt to decode pixels fails the test.
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(ImageError) as info:
        load_image(path, max_size=64)
    assert "bomb.png" in str(info.value)
    assert f"{side}x{side}" in str(info.value) or "too large" in str(info.value)


def test_decompression_bomb_bytes_are_refused() -> None:
    with pytest.raises(ImageError, match="given bytes"):
        load_image(_bomb_png(20_000))


def test_pixel_limit_applies_after_jpeg_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    # A scaled-down stand-in for a 108 MP phone photo: over the limit at full size, but with
    # max_size libjpeg decodes it at 1/8 scale, so it is accepted.
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_500_000)  # Pillow only warns at 2 MP
    buf = io.BytesIO()
    Image.new("RGB", (2000, 1000), (200, 30, 30)).save(buf, format="JPEG")
    assert load_image(buf.getvalue(), max_size=100).size == (100, 50)
    with pytest.raises(ImageError, match="2000x1000"):
        load_image(buf.getvalue())  # no max_size: it would be decoded at full size


# ---- orientation and colour modes -------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    arr[0, 0] = (0, 255, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.png"
    Image.fromarray(arr).save(path, exif=exif)
    img = load_image(path)
    assert img.size == (20, 40)  # (width, height): now portrait
    np.testing.assert_array_equal(np.asarray(img), np.rot90(arr, k=-1))
    assert img.getpixel((19, 0)) == (0, 255, 0)  # the old top-left corner is now top-right


def test_exif_orientation_on_jpeg(tmp_path: Path) -> None:
    arr = np.zeros((32, 64, 3), np.uint8)
    arr[:, :32] = (250, 10, 10)
    arr[:, 32:] = (10, 10, 250)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = np.asarray(load_image(path)).astype(int)
    assert out.shape == (64, 32, 3)
    assert out[8, 16, 0] > 200 and out[8, 16, 2] < 60  # top half red
    assert out[56, 16, 2] > 200 and out[56, 16, 0] < 60  # bottom half blue


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_becomes_rgb(fmt: str) -> None:
    img = Image.new("CMYK", (16, 16), (0, 0, 0, 0))
    img.paste((0, 255, 255, 0), (0, 0, 8, 16))  # full magenta + yellow = red
    img.paste((0, 0, 0, 255), (8, 0, 16, 8))  # full black
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
    out = np.asarray(load_image(buf.getvalue())).astype(int)
    tol = 0 if fmt == "TIFF" else 6
    np.testing.assert_allclose(out[8, 3], (255, 0, 0), atol=tol)
    np.testing.assert_allclose(out[3, 12], (0, 0, 0), atol=tol)
    np.testing.assert_allclose(out[12, 12], (255, 255, 255), atol=tol)  # no ink = white


def test_palette_with_transparency_is_composited_on_white() -> None:
    img = Image.new("P", (4, 2), 0)
    img.putpalette([255, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 6))
    img.putpixel((1, 0), 1)
    img.putpixel((2, 1), 1)
    data = _png_bytes(img, transparency=1)  # palette index 1 (green) is fully transparent
    out = np.asarray(load_image(data))
    expected = np.full((2, 4, 3), (255, 0, 0), np.uint8)
    expected[0, 1] = expected[1, 2] = (255, 255, 255)
    np.testing.assert_array_equal(out, expected)


def test_palette_without_transparency() -> None:
    img = Image.new("P", (2, 1), 0)
    img.putpalette([10, 20, 30, 200, 100, 0] + [0] * (256 * 3 - 6))
    img.putpixel((1, 0), 1)
    out = np.asarray(load_image(_png_bytes(img)))
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [200, 100, 0]])


def test_16bit_grey_becomes_8bit_rgb() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # k * 257 is exactly k/255
    img = Image.fromarray(values)
    assert img.mode.startswith("I;16")
    out = np.asarray(load_image(_png_bytes(img)))
    assert out.shape == (1, 4, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_dark_16bit_image_stays_dark() -> None:
    # A 16-bit image whose values happen to be <= 255 is nearly black, not full range.
    values = np.array([[0, 128, 255]], dtype=np.uint16)
    out = np.asarray(load_image(_png_bytes(Image.fromarray(values))))
    assert out.max() <= 1


@pytest.mark.parametrize(("mode", "value"), [("L", 77), ("1", 255), ("LA", (77, 255))])
def test_grey_modes_become_rgb(mode: str, value) -> None:
    out = np.asarray(load_image(Image.new(mode, (3, 2), value)))
    grey = 77 if mode != "1" else 255
    np.testing.assert_array_equal(out, np.full((2, 3, 3), grey, np.uint8))


def test_rgba_half_transparent_red_over_white() -> None:
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    img.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent: white whatever its colour
    img.putpixel((1, 0), (0, 0, 255, 255))  # opaque: unchanged
    out = np.asarray(load_image(_png_bytes(img))).astype(int)
    # white * (1 - a) + red * a with a = 128/255: G = B = 255 * 127/255 = 127
    np.testing.assert_allclose(out[2, 2], (255, 127, 127), atol=1)
    np.testing.assert_array_equal(out[0, 0], (255, 255, 255))
    np.testing.assert_array_equal(out[0, 1], (0, 0, 255))


# ---- max_size -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_max_size_shrinks_longest_side_keeping_aspect(fmt: str) -> None:
    img = Image.fromarray(_random_rgb(300, 600))  # width 600, height 300
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    out = load_image(buf.getvalue(), max_size=100)
    assert out.size == (100, 50)
    assert out.mode == "RGB"


def test_max_size_on_portrait_and_on_exif_rotated_input(tmp_path: Path) -> None:
    img = Image.fromarray(_random_rgb(90, 30))  # portrait 30 x 90
    assert load_image(img, max_size=45).size == (15, 45)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "r.jpg"
    Image.fromarray(_random_rgb(40, 120)).save(path, exif=exif)  # stored landscape 120 x 40
    assert load_image(path, max_size=60).size == (20, 60)  # shown portrait


def test_max_size_never_enlarges() -> None:
    img = Image.fromarray(_random_rgb(10, 20))
    out = load_image(img, max_size=500)
    assert out.size == (20, 10)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


@pytest.mark.parametrize("mode", ["CMYK", "P", "I;16", "RGBA"])
def test_max_size_with_other_modes(mode: str) -> None:
    if mode == "I;16":
        img = Image.fromarray(np.full((40, 80), 65535, np.uint16))
    else:
        img = Image.new(mode, (80, 40))
    out = load_image(img, max_size=20)
    assert out.size == (20, 10) and out.mode == "RGB"


def test_large_jpeg_is_decoded_reduced(monkeypatch: pytest.MonkeyPatch) -> None:
    # With max_size, a big JPEG is decoded by libjpeg at a reduced scale (draft mode), so the
    # full-resolution buffer is never allocated.
    buf = io.BytesIO()
    Image.new("RGB", (1600, 800), (20, 120, 220)).save(buf, format="JPEG")
    decoded_sizes: list[tuple[int, int]] = []
    original_load = ImageFile.ImageFile.load

    def spy(self):
        decoded_sizes.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    out = load_image(buf.getvalue(), max_size=100)
    assert out.size == (100, 50)
    assert decoded_sizes and max(decoded_sizes[0]) <= 400


# ---- tensors --------------------------------------------------------------------------------


def test_image_to_tensor_layout_and_normalisation() -> None:
    arr = _random_rgb(5, 7)
    t = image_to_tensor(Image.fromarray(arr))
    assert t.shape == (1, 3, 5, 7)
    assert t.dtype == torch.float32
    expected = ((arr / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(t.numpy(), expected, atol=1e-5)


def test_image_to_tensor_sizes() -> None:
    img = Image.fromarray(_random_rgb(30, 60))
    assert image_to_tensor(img, size=20).shape == (1, 3, 10, 20)  # int: longest side
    assert image_to_tensor(img, size=(9, 13)).shape == (1, 3, 9, 13)  # (H, W): exact
    assert image_to_tensor(img, device="cpu").device.type == "cpu"


def test_image_to_tensor_accepts_load_image_sources(tmp_path: Path) -> None:
    arr = _random_rgb(6, 4)
    path = tmp_path / "x.png"
    Image.fromarray(arr).save(path)
    expected = image_to_tensor(Image.fromarray(arr))
    for source in (path, str(path), path.read_bytes(), Image.fromarray(arr).convert("RGBA")):
        torch.testing.assert_close(image_to_tensor(source), expected, rtol=0, atol=0)


@pytest.mark.parametrize(("h", "w", "seed"), [(1, 1, 0), (17, 23, 1), (64, 48, 2)])
def test_round_trip_is_exact(h: int, w: int, seed: int) -> None:
    arr = _random_rgb(h, w, seed)
    arr[0, 0] = (0, 0, 0)
    arr[-1, -1] = (255, 255, 255)
    back = tensor_to_image(image_to_tensor(Image.fromarray(arr)))
    assert back.mode == "RGB" and back.size == (w, h)
    np.testing.assert_array_equal(np.asarray(back), arr)


def test_tensor_to_image_clamps_and_accepts_3d() -> None:
    lo, hi = pixel_bounds()
    t = torch.cat([lo - 5.0, hi + 5.0, (lo + hi) / 2], dim=3).expand(1, 3, 2, 3)
    arr = np.asarray(tensor_to_image(t[0]))  # [3, H, W] works too
    np.testing.assert_array_equal(arr[:, 0], np.zeros((2, 3)))
    np.testing.assert_array_equal(arr[:, 1], np.full((2, 3), 255))
    np.testing.assert_array_equal(arr[:, 2], np.full((2, 3), 128))  # 0.5 * 255 = 127.5 -> 128


def test_tensor_to_image_detaches_and_handles_bf16() -> None:
    x = image_to_tensor(Image.fromarray(_random_rgb(4, 4))).requires_grad_(True)
    assert tensor_to_image(x * 1.0).size == (4, 4)
    assert tensor_to_image(x.detach().bfloat16()).size == (4, 4)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 4, 4, 4), (4, 4), (1, 1, 3, 4, 4)])
def test_tensor_to_image_rejects_bad_shapes(shape) -> None:
    with pytest.raises(ValueError, match="shape"):
        tensor_to_image(torch.zeros(shape))


def test_normalize_and_denormalize_are_inverse() -> None:
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    expected = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    torch.testing.assert_close(normalize(x), expected)
    torch.testing.assert_close(denormalize(normalize(x)), x)
    assert normalize(x).dtype == torch.float64


def test_pixel_bounds_are_normalised_black_and_white() -> None:
    lo, hi = pixel_bounds()
    assert lo.shape == hi.shape == (1, 3, 1, 1)
    torch.testing.assert_close(lo, normalize(torch.zeros(1, 3, 1, 1)))
    torch.testing.assert_close(hi, normalize(torch.ones(1, 3, 1, 1)))


def test_resize_to() -> None:
    img = Image.new("RGB", (60, 30))
    assert images.resize_to(img, None) is img
    assert images.resize_to(img, 60) is img
    assert images.resize_to(img, 120).size == (120, 60)
    assert images.resize_to(img, (5, 7)).size == (7, 5)
    with pytest.raises(ValueError, match="size"):
        images.resize_to(img, 0)


# ---- saving ---------------------------------------------------------------------------------


def test_save_image_round_trip_and_creates_folders(tmp_path: Path) -> None:
    arr = _random_rgb(9, 11)
    path = save_image(Image.fromarray(arr), tmp_path / "a" / "b" / "out.png")
    assert path == tmp_path / "a" / "b" / "out.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), arr)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]  # no temp files left


def test_save_image_overwrite_rules(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    save_image(Image.new("RGB", (2, 2), (1, 2, 3)), path)
    with pytest.raises(FileExistsError, match="out.png"):
        save_image(Image.new("RGB", (2, 2), (9, 9, 9)), path, overwrite=False)
    assert Image.open(path).getpixel((0, 0)) == (1, 2, 3)  # untouched
    save_image(Image.new("RGB", (2, 2), (9, 9, 9)), path)
    assert Image.open(path).getpixel((0, 0)) == (9, 9, 9)


def test_save_image_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        save_image(Image.new("RGB", (2, 2)), tmp_path / "out.notanimage")
    assert list(tmp_path.iterdir()) == []


def test_saved_files_get_ordinary_permissions(tmp_path):
    """Atomic writes go through a private temporary file; the result must not stay private."""
    import os

    from nst_helpers.images import save_image

    umask = os.umask(0o022)
    try:
        out = save_image(Image.new("RGB", (4, 4)), tmp_path / "a.png")
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o600)  # a user's choice for an existing file is kept
        save_image(Image.new("RGB", (4, 4)), out, overwrite=True)
        assert out.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)
