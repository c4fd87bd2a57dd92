#!/usr/bin/env python3
"""Adds to the fuzzers' seed corpora in tests/fuzz/corpus/<target>/ from the fixtures, plus small
hand-built files for what the fixtures lack (other image formats, tiny checkpoints). Standard
library only; run from the repository root: python3 tests/fuzz/make_corpus.py

Every seed stays a few KB at most: libFuzzer mutates small inputs far faster, and the coverage a
large file adds over a small one of the same shape is nil."""
import collections
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

FIX = "tests/fixtures"
OUT = "tests/fuzz/corpus"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def fixture(rel):
    with open(os.path.join(FIX, rel), "rb") as f:
        return f.read()


# ---- safetensors ------------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def seed_safetensors():
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, float("inf"))
    put("safetensors", "dtypes.safetensors", safetensors([
        ("a.weight", "F32", [2, 2], f32),
        ("b.half", "F16", [3], struct.pack("<3H", 0x3c00, 0x8001, 0x7c00)),
        ("c.bf16", "BF16", [1, 2], struct.pack("<2H", 0x3f80, 0x7fc0)),
        ("d.ids", "I64", [2], struct.pack("<2q", 7, -1)),
        ("e.scalar", "F32", [], struct.pack("<f", 3.0)),
        ("f.empty", "F32", [0, 4], b""),
    ], {"format": "pt"}))
    put("safetensors", "empty_header.safetensors", safetensors([]))
    # the first small tensors of tiny-a, with their real data
    raw = fixture("tiny-a/model.safetensors")
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    picked = []
    for name, e in sorted(header.items()):
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if end - b <= 256:
            picked.append((name, e["dtype"], e["shape"], raw[base + b:base + end]))
        if len(picked) == 12:
            break
    put("safetensors", "tiny_a_part.safetensors", safetensors(picked, header.get("__metadata__")))


# ---- pytorch ----------------------------------------------------------------------------------

def fake_torch():
    """Stand-ins for the torch globals torch.save pickles by name, so the standard pickle module
    writes what torch.save writes without torch installed."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError

    def _rebuild_parameter(*args):
        raise AssertionError

    for fn in (_rebuild_tensor_v2, _rebuild_parameter):
        fn.__module__ = utils.__name__
        fn.__qualname__ = fn.__name__
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    utils._rebuild_parameter = _rebuild_parameter
    for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
    sys.modules["torch"] = torch
    sys.modules["torch._utils"] = utils
    torch._utils = utils
    return torch, utils


class Storage:
    def __init__(self, cls, key, raw, size):
        self.cls, self.key, self.raw, self.size = cls, key, raw, size


class Tensor:
    def __init__(self, utils, storage, offset, shape, stride, param=False):
        self.utils, self.storage, self.offset, self.shape, self.stride = utils, storage, offset, shape, stride
        self.param = param

    def __reduce__(self):
        t = (self.utils._rebuild_tensor_v2,
             (self.storage, self.offset, tuple(self.shape), tuple(self.stride), False, collections.OrderedDict()))
        if not self.param:
            return t
        return (self.utils._rebuild_parameter, (_Rebuilt(t), False, collections.OrderedDict()))


class _Rebuilt:
    def __init__(self, red):
        self.red = red

    def __reduce__(self):
        return self.red


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.size)
        return None


def torch_save(state, storages, protocol=2, zip64=False, name="archive"):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        def add(path, data):
            with z.open(zipfile.ZipInfo(path), "w", force_zip64=zip64) as f:
                f.write(data)
        add(name + "/data.pkl", buf.getvalue())
        add(name + "/byteorder", b"little")
        for s in storages:
            add("%s/data/%s" % (name, s.key), s.raw)
        add(name + "/version", b"3\n")
    return out.getvalue()


def seed_pytorch():
    put("pytorch", "proto4.pt", fixture("pytorch/proto4.pt"))
    torch, utils = fake_torch()
    f = Storage(torch.FloatStorage, "0", struct.pack("<6f", *range(6)), 6)
    h = Storage(torch.HalfStorage, "1", struct.pack("<4H", 0x3c00, 0x4000, 0x4200, 0x4400), 4)
    b = Storage(torch.BFloat16Storage, "2", struct.pack("<2H", 0x3f80, 0x4000), 2)
    i = Storage(torch.LongStorage, "3", struct.pack("<2q", 1, 2), 2)
    state = collections.OrderedDict([
        ("w", Tensor(utils, f, 0, [2, 3], [3, 1])),
        ("row", Tensor(utils, f, 3, [3], [1])),
        ("p", Tensor(utils, h, 0, [2, 2], [2, 1], param=True)),
        ("bf", Tensor(utils, b, 0, [2], [1])),
        ("ids", Tensor(utils, i, 0, [1, 2], [2, 1])),
        ("scalar", Tensor(utils, f, 5, [], [])),
    ])
    storages = [f, h, b, i]
    put("pytorch", "proto2.bin", torch_save(state, storages))
    put("pytorch", "proto2_zip64.bin", torch_save(state, storages, zip64=True, name="pytorch_model"))
    put("pytorch", "proto4_built.bin", torch_save(state, storages, protocol=4))


# ---- JSON configs -----------------------------------------------------------------------------

def seed_config():
    for d in ("tiny-a", "tiny-b", "align-base"):
        for f in ("config.json", "preprocessor_config.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(FIX, d, f)):
                put("config", "%s_%s" % (d, f), fixture(os.path.join(d, f)))
    put("config", "empty.json", "{}")
    put("config", "nulls.json", '{"text_config": null, "vision_config": {"depthwise_padding": [3, 18]}}')
    put("config", "sizes.json", '{"size": 40, "crop_size": [10, 12], "image_mean": 0.25, "image_std": [1, 2, 4],'
                                 ' "unk_token": {"content": "[UNK]"}, "strip_accents": true}')


# ---- text -------------------------------------------------------------------------------------

def seed_tokenizer():
    cases = json.loads(fixture("tokenizer_cases.json"))["cases"]
    step = max(1, len(cases) // 60)
    for k, c in enumerate(cases[::step]):
        put("tokenizer", "case%03d.txt" % k, c["text"].encode("utf-8", "surrogatepass"))
    put("tokenizer", "invalid.txt", b"caf\xe9 \xed\xa0\x80 \xf4\x90\x80\x80 ok")


def seed_vocab():
    lines = fixture("vocab.txt").decode().split("\n")
    specials = lines[:1] + lines[100:104]
    words = [w for w in lines[1000:] if w][::150]
    put("vocab", "small.txt", "\n".join(specials + words) + "\n")
    put("vocab", "crlf.txt", "\r\n".join(specials + words[:40]))
    put("vocab", "no_unk.txt", "\n".join([lines[101], lines[102]] + words[:20]))
    put("vocab", "dupes.txt", "\n".join(specials + ["a", "a", "##a", "##", "#", ""]))


def seed_inputs():
    put("inputs", "labels.txt", "# animals\ncat\r\na photo of a dog\n\n  \n#x\nlast")
    put("inputs", "nul.txt", b"ok\nbad\0label\n")
    put("inputs", "paths0.txt", b"a.jpg\0dir/b.png\0\0c d.gif")
    put("inputs", "paths.txt", "a.jpg\r\nphotos/b.png\n\n")


# ---- images -----------------------------------------------------------------------------------

def png(w, h, depth, color, rows, extra=b"", palette=None, trns=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    if trns:
        out += chunk(b"tRNS", trns)
    out += extra + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows))) + chunk(b"IEND", b"")
    return out


def tiff_orientation(value, little=True):
    e = "<" if little else ">"
    return (b"II*\0" if little else b"MM\0*") + struct.pack(e + "IH", 8, 1) + struct.pack(e + "HHIHH", 0x112, 3, 1, value, 0) + b"\0\0\0\0"


def gif_lzw(pixels):
    """GIF image data for 1-bit pixels: minimum code size 2, a clear code before every pair of
    literals so that codes stay 3 bits wide (valid LZW, no compression)."""
    codes = []
    for k in range(0, len(pixels), 2):
        codes += [4] + pixels[k:k + 2]
    codes.append(5)
    bits, n, out = 0, 0, bytearray()
    for c in codes:
        bits |= c << n
        n += 3
        while n >= 8:
            out.append(bits & 0xff)
            bits >>= 8
            n -= 8
    if n:
        out.append(bits & 0xff)
    return bytes((2, len(out))) + bytes(out) + b"\0"


def seed_simple_formats():
    """The files of the format corpus (tests/fixtures/formats) that are small, for the formats decoded by
    align's own code."""
    for fmt in ("bmp", "tga", "pnm", "gif", "ico", "cur", "psd", "icns", "sgi", "pcx", "dds", "xbm", "xpm", "sun",
                "msp", "gbr", "blp", "ftex", "pcd", "imt", "im", "pixar", "xvthumb", "fli", "fits", "spider",
                "mcidas"):
        d = os.path.join(FIX, "formats", fmt)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".ppm", ".err", ".py")) and os.path.getsize(os.path.join(d, name)) <= 4096:
                put("image", fmt + "-" + name, fixture(os.path.join("formats", fmt, name)))


def seed_images():
    seed_simple_formats()
    for f in ("cat_exif_rot.jpg", "coffee_progressive.jpg", "odd_37x23.png", "camera_gray.png", "cat.jpg",
              "chelsea_palette.png"):
        put("image", f, fixture("images/" + f))
    w, h = 5, 3
    rgb = [b"".join(bytes((x * 50, y * 80, 90)) for x in range(w)) for y in range(h)]
    put("image", "rgb8.png", png(w, h, 8, 2, rgb))
    put("image", "gray16.png", png(w, h, 16, 0, [b"".join(struct.pack(">H", (x + y) * 9000) for x in range(w)) for y in range(h)]))
    put("image", "rgba.png", png(w, h, 8, 6, [b"".join(bytes((x * 50, y * 80, 90, x * 60)) for x in range(w)) for y in range(h)]))
    put("image", "palette.png", png(w, h, 8, 3, [bytes((x + y) % 3 for x in range(w)) for y in range(h)],
                                    palette=b"\xff\0\0\0\xff\0\0\0\xff", trns=b"\x80"))
    body = tiff_orientation(6, little=False)
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body) & 0xffffffff)
    put("image", "exif6.png", png(w, h, 8, 2, rgb, extra=chunk))
    # BMP: 24-bit bottom-up, and 8-bit with a palette
    def bmp(w, h, bpp, pixels, palette=b""):
        stride = (w * bpp + 31) // 32 * 4
        raster = b"".join(r + b"\0" * (stride - len(r)) for r in pixels)
        off = 14 + 40 + len(palette)
        return (b"BM" + struct.pack("<IHHI", off + len(raster), 0, 0, off) +
                struct.pack("<IiiHHIIiiII", 40, w, h, 1, bpp, 0, len(raster), 2835, 2835, len(palette) // 4, 0) +
                palette + raster)
    put("image", "rgb24.bmp", bmp(w, h, 24, [b"".join(bytes((90, y * 80, x * 50)) for x in range(w)) for y in range(h)]))
    put("image", "pal8.bmp", bmp(w, h, 8, [bytes((x + y) % 2 for x in range(w)) for y in range(h)],
                                 palette=b"\0\0\xff\0\xff\xff\xff\0"))
    # TGA: uncompressed true colour, RLE, colour-mapped, grey
    def tga(kind, w, h, bpp, data, cmap=b"", cmap_len=0, cmap_bits=0, desc=0x20):
        return struct.pack("<BBBHHBHHHHBB", 0, 1 if cmap else 0, kind, 0, cmap_len, cmap_bits, 0, 0, w, h, bpp, desc) + cmap + data
    put("image", "rgb.tga", tga(2, w, h, 24, bytes(range(w * h * 3))))
    put("image", "rle.tga", tga(10, w, h, 24, b"\x84\x10\x20\x30\x04" + bytes(range(15)) + b"\x84\x01\x02\x03"))
    put("image", "cmap.tga", tga(1, w, h, 8, bytes(i % 2 for i in range(w * h)), cmap=b"\0\0\xff\xff\0\0", cmap_len=2, cmap_bits=24))
    put("image", "grey_rle.tga", tga(11, w, h, 8, b"\x8e\x40"))
    # GIF: 4x4, two colours, transparency, one frame inside a larger canvas
    lzw = gif_lzw([(x + y) % 2 for y in range(4) for x in range(4)])
    gif = (b"GIF89a" + struct.pack("<HHBBB", 6, 5, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff" +
           b"\x21\xf9\x04\x01\0\0\x01\0" + b"\x2c" + struct.pack("<HHHHB", 1, 1, 4, 4, 0) + lzw + b";")
    put("image", "frame.gif", gif)
    # PNM: 8-bit RGB, 16-bit grey, odd maxval, a comment
    put("image", "rgb.ppm", b"P6\n# seed\n3 2\n255\n" + bytes(range(18)))
    put("image", "grey16.pgm", b"P5 2 2 65535\n" + struct.pack(">4H", 0, 300, 40000, 65535))
    put("image", "max7.ppm", b"P6 2 1 7 " + bytes((0, 3, 7, 7, 1, 2)))


def seed_formats():
    """The format corpus's files (tests/fixtures/formats) for the decoders' own targets, and the
    rotated ones for the orientation readers."""
    for fmt in ("jpeg", "webp", "jp2", "tiff", "png-orientation"):
        d = os.path.join(FIX, "formats", fmt)
        for name in sorted(os.listdir(d)):
            if name.endswith((".ppm", ".err", ".py")):
                continue
            target = "orientation" if fmt == "png-orientation" or "orientation" in name else fmt
            put(target, name, fixture(os.path.join("formats", fmt, name)))


def main():
    # adds to the corpus, never clears it: seeds committed by hand (a fuzzing run's finds, a
    # differential run's reproducers) stay
    for fn in (seed_safetensors, seed_pytorch, seed_config, seed_tokenizer, seed_vocab, seed_inputs, seed_images,
               seed_formats):
        fn()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%-12s %3d files %7d bytes" % (t, len(files), size))


if __name__ == "__main__":
    main()
